"""Per-day files commit as a whole: a range writes every day's file, or leaves every previous file as it was.

A 4-day range is written while something stands in the way of one of its days: a file where the day's
folder must be, a folder where the day's file must be (local, found while staging, before anything is
published), or a missing bucket (S3, on moto's server on loopback: found when that day's object is put,
after the earlier days were published, so those are put back). Whichever day it is, the task fails at once
with a FeishuOutputError that names the path and says a rerun cannot help, and every previous file is the
same, byte for byte; no temporary file or key is left. Run by real Airflow (``dag.test()``).

A failure between two publishes is also made directly through the output writer (a folder appears where
one file must go after every file was staged), to show the local put-back. Templates that map two days to
one path are refused when the operator is built.
"""

from __future__ import annotations

import pendulum
import pytest

from airflow_provider_feishu_workplace.exceptions import FeishuConfigError, FeishuOutputBlockedError
from airflow_provider_feishu_workplace.operators.feishu_workplace import FeishuWorkplaceBlockAccessOperator
from airflow_provider_feishu_workplace.outputs.commit import publish_together
from airflow_provider_feishu_workplace.outputs.files import open_output
from tests.s3_fixtures import s3_bucket, s3_server  # noqa: F401 - fixtures

LOGICAL_DATE = pendulum.datetime(2026, 11, 20, tz="UTC")
DAYS = ["2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04"]
BLOCK = {"date": "2026-10-01", "block_id": "b1", "access_data": {"pv": 3, "uv": 2}}


def previous(day: str) -> bytes:
    return f'{{"previous pull of": "{day}"}}\n'.encode()


def files_under(folder) -> dict[str, bytes]:
    """Every file under ``folder``, temporary files included, with its bytes; folders as None."""
    return {str(path.relative_to(folder)): path.read_bytes() if path.is_file() else None for path in folder.rglob("*")}


def range_args(output: str) -> str:
    return f"from_date={DAYS[0]!r}, to_date={DAYS[-1]!r}, output_path={output!r}, page_size=3"


class LocalLake:
    """Previous files in a local lake, one folder per day; ``block`` puts an obstacle on one day's path."""

    def __init__(self, root, obstacle: str) -> None:
        self.root = root / "lake"
        self.obstacle = obstacle
        self.output = f"file://{self.root}/dt={{date}}/part.jsonl"

    def seed(self, failing_day: str) -> None:
        for day in DAYS:
            if day == failing_day and self.obstacle == "file-in-the-way-of-the-folder":
                self.root.mkdir(parents=True, exist_ok=True)
                (self.root / f"dt={day}").write_bytes(b"a file, not a folder")
            elif day == failing_day:
                (self.root / f"dt={day}" / "part.jsonl" / "inside").mkdir(parents=True)
            else:
                (self.root / f"dt={day}").mkdir(parents=True)
                (self.root / f"dt={day}" / "part.jsonl").write_bytes(previous(day))

    def state(self) -> dict[str, bytes]:
        return files_under(self.root)


class S3Lake:
    """A bucket per day (``lake-<day>``) holding the previous file; the failing day's bucket is missing.

    The second day has no previous file (unless it is the failing one): a put-back must remove its new one.
    """

    def __init__(self, client) -> None:
        self.client = client
        self.output = "s3://lake_s3@lake-{date}/block/part.jsonl"
        self.buckets: list[str] = []

    def seed(self, failing_day: str) -> None:
        for day in DAYS:
            if day == failing_day:
                continue
            self.client.create_bucket(Bucket=f"lake-{day}")
            self.buckets.append(f"lake-{day}")
            if day != DAYS[1]:
                self.client.put_object(Bucket=f"lake-{day}", Key="block/part.jsonl", Body=previous(day))

    def state(self) -> dict[str, bytes]:
        return {
            f"{bucket}/{obj['Key']}": self.client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            for bucket in self.buckets
            for obj in self.client.list_objects_v2(Bucket=bucket).get("Contents", [])
        }

    def remove(self) -> None:
        for bucket in self.buckets:
            for obj in self.client.list_objects_v2(Bucket=bucket).get("Contents", []):
                self.client.delete_object(Bucket=bucket, Key=obj["Key"])
            self.client.delete_bucket(Bucket=bucket)


@pytest.fixture(params=["file-in-the-way-of-the-folder", "folder-in-the-way-of-the-file", "s3-bucket-missing"])
def lake(request, tmp_path):
    if request.param.startswith("s3"):
        s3 = S3Lake(request.getfixturevalue("s3_bucket"))
        yield s3
        s3.remove()
    else:
        yield LocalLake(tmp_path, request.param)


@pytest.mark.parametrize("failing_day", DAYS, ids=[f"day-{n}-of-4" for n in range(1, 5)])
def test_a_write_failing_on_any_day_of_a_range_leaves_every_previous_file_as_it_was(
    run_dag, feishu_conn, lake, failing_day
):
    lake.seed(failing_day)
    before = lake.state()

    run = run_dag(
        "day_commit",
        LOGICAL_DATE,
        operator="FeishuWorkplaceBlockAccessOperator",
        operator_args=range_args(lake.output),
    )

    assert run.states["pull"] == "failed"
    assert lake.state() == before
    shown = lake.output.replace("{date}", failing_day).replace("lake_s3@", "")
    assert f"The output path {shown} cannot be written" in run.log
    assert "A rerun cannot help until then." in run.log
    assert "AirflowFailException" in run.log  # failed at once: Airflow's retries are not spent on it


def test_the_same_range_without_the_obstacle_writes_every_day(run_dag, feishu_conn, tmp_path):
    lake = LocalLake(tmp_path, "none")
    lake.seed(failing_day="")

    run = run_dag(
        "day_commit_ok",
        LOGICAL_DATE,
        operator="FeishuWorkplaceBlockAccessOperator",
        operator_args=range_args(lake.output),
    )

    assert run.states["pull"] == "success", run.log
    state = lake.state()
    assert sorted(state) == sorted(f"dt={day}{tail}" for day in DAYS for tail in ("", "/part.jsonl"))
    assert all(state[f"dt={day}/part.jsonl"].startswith(b'{"date":"' + day.encode()) for day in DAYS)


@pytest.mark.parametrize("failing", range(4), ids=[f"publish-{n}-of-4-fails" for n in range(1, 5)])
def test_a_publish_failing_after_others_puts_the_published_files_back(tmp_path, failing):
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    targets = [tmp_path / f"{day}.jsonl" for day in DAYS]
    for target in targets[1:]:  # the first day has no previous file: putting back removes the new one
        target.write_bytes(previous(target.stem))
    files = [open_output(ObjectStoragePath(f"file://{target}"), "jsonl") for target in targets]
    for file in files:
        file.write({**BLOCK, "date": file.target.stem})
        file.stage()
    # Between the stage and the publish another process puts a folder where one file must go.
    targets[failing].unlink(missing_ok=True)
    (targets[failing] / "inside").mkdir(parents=True)
    before = {name: data for name, data in files_under(tmp_path).items() if not name.startswith(".")}  # no temps

    with pytest.raises(FeishuOutputBlockedError, match=rf"{targets[failing]} cannot be written \(IsADirectoryError"):
        publish_together(files)

    assert files_under(tmp_path) == before


BAD_TEMPLATES = [
    pytest.param("file:///lake/{date}/../same.jsonl", "'/lake/same.jsonl' once normalised", id="dot-dot-after-date"),
    pytest.param("file:///lake/x/{date}/..", "'/lake/x' once normalised", id="ends-in-dot-dot"),
    pytest.param("file:///lake/./{date}/./../a.jsonl", "'/lake/a.jsonl' once normalised", id="dots-around-date"),
    pytest.param("s3://{date}@bucket/x.jsonl", "'bucket/x.jsonl' once normalised", id="date-only-in-the-conn-id"),
]


@pytest.mark.parametrize(("template", "normalised"), BAD_TEMPLATES)
def test_a_template_mapping_two_days_to_one_path_is_refused_when_the_dag_is_parsed(template, normalised):
    with pytest.raises(FeishuConfigError) as refused:
        FeishuWorkplaceBlockAccessOperator(task_id="pull", output_path=template)

    assert f"output_path={template!r} writes every day to one file ({normalised})" in str(refused.value)


@pytest.mark.parametrize(
    "template",
    ["file:///lake/{date}/part.jsonl", "file:///lake/dt={date}.parquet", "s3://conn@lake-{date}/part.jsonl"],
)
def test_a_template_with_a_file_per_day_is_accepted(template):
    assert FeishuWorkplaceBlockAccessOperator(task_id="pull", output_path=template).output_path == template


def test_a_jinja_template_that_maps_two_days_to_one_path_fails_before_the_pull(run_dag, feishu_conn, tmp_path):
    output = f"file://{tmp_path}/{{{{ 'lake' }}}}/{{date}}/../same.jsonl"

    run = run_dag("day_commit_jinja", LOGICAL_DATE, operator_args=range_args(output))

    assert run.states["pull"] == "failed"
    assert f"'{tmp_path}/lake/same.jsonl' once normalised" in run.log
    assert feishu_conn.requests == []
    assert not (tmp_path / "lake").exists()


@pytest.mark.parametrize(
    ("output_format", "item", "raw", "doing"),
    [
        # Parquet buffers a row group: the value fails when the group is written.
        pytest.param(
            "parquet",
            {**BLOCK, "access_data": {"pv": 2**63, "uv": 1}},
            "OverflowError",
            "finishing",
            id="parquet-2**63",
        ),
        pytest.param(
            "jsonl", {**BLOCK, "block_id": "b\ud800"}, "UnicodeEncodeError", "encoding", id="jsonl-lone-surrogate"
        ),
    ],
)
def test_an_item_the_format_cannot_encode_is_an_output_error_no_rerun_can_help(
    tmp_path, output_format, item, raw, doing
):
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    target = tmp_path / f"part.{output_format}"
    target.write_bytes(b"previous")

    with (
        pytest.raises(FeishuOutputBlockedError, match=rf"{target} cannot be written \({raw}: .*while {doing}"),
        open_output(ObjectStoragePath(f"file://{target}"), output_format, endpoint="block") as output,
    ):
        output.write(BLOCK)
        output.write(item)
        output.commit()

    assert files_under(tmp_path) == {"part." + output_format: b"previous"}
