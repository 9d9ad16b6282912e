"""The access operator writing to S3 through ObjectStoragePath, against moto's S3 server on loopback."""

from __future__ import annotations

import json

import pendulum
import pytest


BUCKET = "feishu-lake"


@pytest.fixture(scope="session")
def s3_server():
    """An S3-compatible server (moto) on 127.0.0.1, for the whole session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_server, monkeypatch):
    """An empty bucket, and the ``lake_s3`` Airflow connection pointing at it; return a boto3 client."""
    import boto3

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    conn = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"endpoint_url": s3_server, "region_name": "us-east-1"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_LAKE_S3", json.dumps(conn))
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    yield client
    for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    client.delete_bucket(Bucket=BUCKET)


def keys(client) -> list[str]:
    return sorted(obj["Key"] for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []))


OUTPUT = f'output_path="s3://lake_s3@{BUCKET}/block/dt={{{{ ds }}}}/part.jsonl", page_size=2'
KEY = "block/dt=2026-11-20/part.jsonl"


def test_s3_output_writes_json_lines_and_returns_the_uri(run_dag, feishu_conn, s3_bucket):
    run = run_dag(
        "s3_block", pendulum.datetime(2026, 11, 20, tz="UTC"), operator="FeishuWorkplaceBlockAccessOperator", operator_args=OUTPUT
    )

    assert run.states["pull"] == "success", run.log
    assert run.received == f"s3://lake_s3@{BUCKET}/{KEY}"
    body = s3_bucket.get_object(Bucket=BUCKET, Key=KEY)["Body"].read().decode("utf-8")
    assert [json.loads(line) for line in body.splitlines()] == feishu_conn.expected_items("block", "2026-11-19", "2026-11-19")


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
