"""The output writers behind the operators (``_output.open_output``): format choice, commit and abort, Parquet
details, and the operators without pyarrow installed."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from airflow_provider_feishu_workplace.exceptions import FeishuConfigError
from airflow_provider_feishu_workplace.outputs.files import open_output, output_format_for
from tests.site_without import site_without

REPO = Path(__file__).resolve().parents[2]
BLOCK = {"date": "2026-11-19", "block_id": "b1", "access_data": {"pv": 3, "uv": 2}}


def storage_path(path: Path):
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    return ObjectStoragePath(f"file://{path}")


@pytest.mark.parametrize(
    ("path", "explicit", "expected"),
    [
        ("s3://conn@bucket/dt=2026-11-19/part.parquet", None, "parquet"),
        ("file:///lake/PART.PARQUET", None, "parquet"),
        ("file:///lake/part.jsonl", None, "jsonl"),
        ("file:///lake/part", None, "jsonl"),
        ("file:///lake/part.data", "parquet", "parquet"),
        ("file:///lake/part.parquet", "parquet", "parquet"),
    ],
    ids=["parquet suffix", "suffix in capitals", "jsonl suffix", "no suffix", "explicit", "explicit and suffix agree"],
)
def test_output_format_comes_from_the_argument_or_the_suffix(path, explicit, expected):
    assert output_format_for(path, explicit) == expected


def test_a_format_the_suffix_contradicts_is_refused_naming_both():
    with pytest.raises(FeishuConfigError, match=r"output_format='jsonl' contradicts .*'\.parquet' \(part\.parquet\)"):
        output_format_for("file:///lake/part.parquet", "jsonl")


@pytest.mark.parametrize("output_format", ["jsonl", "parquet"])
@pytest.mark.parametrize("ending", ["exception", "abort", "no commit"])
def test_an_output_not_committed_leaves_the_target_as_it_was(tmp_path, output_format, ending):
    target = tmp_path / f"part.{output_format}"
    target.write_bytes(b"previous")

    expectation = pytest.raises(RuntimeError) if ending == "exception" else contextlib.nullcontext()
    with expectation, open_output(storage_path(target), output_format, endpoint="block") as output:
        output.write(BLOCK)
        if ending == "exception":
            raise RuntimeError("the pull failed")
        if ending == "abort":
            output.abort()

    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


@pytest.mark.parametrize("output_format", ["jsonl", "parquet"])
def test_commit_moves_the_file_into_place_and_counts_the_items(tmp_path, output_format):
    target = tmp_path / "sub" / f"part.{output_format}"

    with open_output(storage_path(target), output_format, endpoint="block") as output:
        for _ in range(3):
            output.write(BLOCK)
        assert not target.exists()
        assert output.commit() == 3

    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]
    assert output.size == target.stat().st_size > 0
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    with pytest.raises(RuntimeError, match="committed"):
        output.write(BLOCK)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_parquet_file_without_items_still_has_the_schema(tmp_path):
    target = tmp_path / "part.parquet"

    with open_output(storage_path(target), "parquet", endpoint="custom_workplace") as output:
        assert output.commit() == 0

    table = pq.read_table(target)
    assert table.num_rows == 0
    assert table.schema.names == ["date", "custom_workplace_id", "access_data", "custom_workplace_name"]


def test_parquet_drops_fields_its_schema_does_not_name_and_says_which_once(tmp_path, caplog, capsys):
    target = tmp_path / "part.parquet"
    caplog.set_level("WARNING")

    with open_output(storage_path(target), "parquet", endpoint="block") as output:
        output.write({**BLOCK, "new_field": 1})
        output.write({**BLOCK, "block_id": "b2", "new_field": 2})
        output.commit()

    assert pq.read_table(target).column_names == ["date", "block_id", "access_data"]
    # structlog prints on Airflow 3; logging on Airflow 2 (which may also echo to stdout)
    logged = (caplog.text, capsys.readouterr().out)
    assert max(text.count("['new_field']") for text in logged) == 1


def test_parquet_needs_the_data_set():
    with pytest.raises(ValueError, match="endpoint="):
        open_output(storage_path(Path("/tmp/x.parquet")), "parquet")


# Runs the block operator's execute() with a Feishu double in this process, writing argv[2]; prints the outcome.
WITHOUT_PYARROW = r"""
import json, site, sys

site.addsitedir(sys.argv[1])
import pendulum
from airflow_provider_feishu_workplace.operators.feishu_workplace import FeishuWorkplaceBlockAccessOperator
from airflow_provider_feishu_workplace.testing import FeishuDouble

with FeishuDouble() as double, double.connection_env("feishu_default"):
    operator = FeishuWorkplaceBlockAccessOperator(task_id="pull", date="2026-11-19", output_path=sys.argv[2])
    try:
        outcome = {"returned": operator.execute({})}
    except Exception as error:
        outcome = {"error": type(error).__name__, "message": str(error)}
    outcome["searches"] = double.count("block")
    outcome["pyarrow"] = "pyarrow" in sys.modules
print("@@" + json.dumps(outcome))
"""


@pytest.fixture(scope="module")
def without_pyarrow(tmp_path_factory) -> Path:
    return site_without(tmp_path_factory.mktemp("site-without-pyarrow"), ("pyarrow",))


@pytest.mark.parametrize("name", ["part.jsonl", "part.parquet"])
def test_without_pyarrow_json_lines_work_and_parquet_fails_before_any_request(tmp_path, without_pyarrow, name):
    target = tmp_path / name
    result = subprocess.run(
        [sys.executable, "-S", "-c", WITHOUT_PYARROW, str(without_pyarrow), f"file://{target}"],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = [line for line in result.stdout.splitlines() if line.startswith("@@")]
    assert report, result.stdout[-3000:] + result.stderr[-3000:]
    outcome = json.loads(report[0][2:])

    assert outcome["pyarrow"] is False
    if name == "part.jsonl":
        assert outcome["returned"] == f"file://{target}" and outcome["searches"] == 1
        assert target.exists()
    else:
        assert outcome["error"] == "AirflowFailException"
        assert "airflow-provider-feishu-workplace[parquet]" in outcome["message"]
        assert outcome["searches"] == 0
        assert not target.exists()
