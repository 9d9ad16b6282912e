"""The access operator writing to S3 through ObjectStoragePath, against moto's S3 server on loopback."""

from __future__ import annotations

import json

import pendulum

from tests.s3_fixtures import BUCKET, keys, s3_bucket, s3_server  # noqa: F401 - fixtures

OUTPUT = f'output_path="s3://lake_s3@{BUCKET}/block/dt={{{{ ds }}}}/part.jsonl", page_size=2'
KEY = "block/dt=2026-11-20/part.jsonl"


def test_s3_output_writes_json_lines_and_returns_the_uri(run_dag, feishu_conn, s3_bucket):
    run = run_dag(
        "s3_block",
        pendulum.datetime(2026, 11, 20, tz="UTC"),
        operator="FeishuWorkplaceBlockAccessOperator",
        operator_args=OUTPUT,
    )

    assert run.states["pull"] == "success", run.log
    assert run.received == f"s3://lake_s3@{BUCKET}/{KEY}"
    body = s3_bucket.get_object(Bucket=BUCKET, Key=KEY)["Body"].read().decode("utf-8")
    assert [json.loads(line) for line in body.splitlines()] == feishu_conn.expected_items(
        "block", "2026-11-19", "2026-11-19"
    )


def test_s3_rerun_leaves_one_identical_object(run_dag, feishu_conn, s3_bucket):
    args = dict(operator="FeishuWorkplaceBlockAccessOperator", operator_args=OUTPUT)
    run_dag("s3_rerun", pendulum.datetime(2026, 11, 20, tz="UTC"), **args)
    first = s3_bucket.get_object(Bucket=BUCKET, Key=KEY)["Body"].read()

    run_dag("s3_rerun", pendulum.datetime(2026, 11, 20, tz="UTC"), **args)

    assert keys(s3_bucket) == [KEY]
    assert s3_bucket.get_object(Bucket=BUCKET, Key=KEY)["Body"].read() == first


def test_s3_failed_fetch_leaves_the_previous_object(run_dag, feishu_conn, s3_bucket):
    args = dict(operator="FeishuWorkplaceBlockAccessOperator", operator_args=OUTPUT)
    run_dag("s3_failing", pendulum.datetime(2026, 11, 20, tz="UTC"), **args)
    before = s3_bucket.get_object(Bucket=BUCKET, Key=KEY)["Body"].read()
    feishu_conn.inject("missing_scope", endpoint="block", skip=1)

    run = run_dag("s3_failing", pendulum.datetime(2026, 11, 20, tz="UTC"), **args)

    assert run.states["pull"] == "failed"
    assert keys(s3_bucket) == [KEY]
    assert s3_bucket.get_object(Bucket=BUCKET, Key=KEY)["Body"].read() == before
