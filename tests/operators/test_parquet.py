"""Parquet output: the operators' files for every data set, read back with pyarrow and the load DAG's reader."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import pendulum
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_feishu_workplace.exceptions import FeishuConfigError
from tests.s3_fixtures import BUCKET, keys, s3_bucket, s3_server  # noqa: F401 - fixtures

DAY = "2026-11-19"
RUN_DATE = pendulum.datetime(2026, 11, 20, tz="UTC")  # a @daily run of 11-20 pulls 11-19
OPERATORS = {
    "workplace": "FeishuWorkplaceAccessOperator",
    "custom_workplace": "FeishuCustomWorkplaceAccessOperator",
    "block": "FeishuWorkplaceBlockAccessOperator",
}


def items_from_parquet(path) -> list[dict]:
    """The file's rows as API items: dates back to text, an absent names list dropped."""
    items = []
    for row in pq.read_table(path).to_pylist():
        row["date"] = row["date"].isoformat()
        items.append({key: value for key, value in row.items() if value is not None})
    return items


def load_dag_tables(monkeypatch):
    """The example load DAG's tables module (dags/feishu_workplace_tables.py), imported afresh."""
    import importlib

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "dags"))
    sys.modules.pop("feishu_workplace_tables", None)
    return importlib.import_module("feishu_workplace_tables")


def pull(run_dag, dataset: str, path: Path, dag_id: str | None = None, extra: str = ""):
    return run_dag(
        dag_id or f"parquet_{dataset}",
        RUN_DATE,
        operator=OPERATORS[dataset],
        operator_args=f'output_path="file://{path}", page_size=2{extra}',
    )


@pytest.mark.parametrize("dataset", list(OPERATORS))
def test_parquet_file_holds_the_doubles_items_with_the_documented_schema(run_dag, feishu_conn, tmp_path, dataset):
    path = tmp_path / "lake" / dataset / "part.parquet"

    run = pull(run_dag, dataset, path)

    assert run.states["pull"] == "success", run.log
    assert run.received == f"file://{path}"
    expected = feishu_conn.expected_items(dataset, DAY, DAY)
    assert expected and items_from_parquet(path) == expected
    schema = pq.read_schema(path)
    assert schema.field("date").type == pa.date32()
    counts = {"workplace": "all_workplace", "custom_workplace": "access_data", "block": "access_data"}[dataset]
    assert schema.field(counts).type == pa.struct(
        [pa.field("pv", pa.int64(), nullable=False), pa.field("uv", pa.int64(), nullable=False)]
    )
    if dataset == "custom_workplace":
        assert schema.field("custom_workplace_name").type == pa.list_(
            pa.struct([pa.field("language", pa.string()), pa.field("name", pa.string())])
        )
    assert schema.metadata[b"feishu_workplace.dataset"] == dataset.encode()
    assert sorted(p.name for p in path.parent.iterdir()) == ["part.parquet"]


@pytest.mark.parametrize("dataset", list(OPERATORS))
def test_load_dag_reader_gives_the_same_rows_from_parquet_as_from_json_lines(
    run_dag, feishu_conn, tmp_path, dataset, monkeypatch
):
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    tables = load_dag_tables(monkeypatch)
    TABLES, read_file_rows, read_rows = tables.TABLES, tables.read_file_rows, tables.read_rows

    parquet = tmp_path / f"{dataset}.parquet"
    pull(run_dag, dataset, parquet)
    table = TABLES[dataset]

    rows = list(read_file_rows(ObjectStoragePath(f"file://{parquet}"), table))

    expected_lines = [json.dumps(item) for item in feishu_conn.expected_items(dataset, DAY, DAY)]
    assert rows == list(read_rows(expected_lines, table, "expected")) and rows


def test_rerun_writes_identical_bytes(run_dag, feishu_conn, tmp_path):
    path = tmp_path / "lake/custom_workplace.parquet"
    pull(run_dag, "custom_workplace", path, dag_id="parquet_rerun")
    first = path.read_bytes()

    run = pull(run_dag, "custom_workplace", path, dag_id="parquet_rerun")

    assert run.states["pull"] == "success"
    assert path.read_bytes() == first and first.startswith(b"PAR1")


def test_failed_pull_keeps_the_previous_file_and_leaves_no_temporary_file(run_dag, feishu_conn, tmp_path):
    path = tmp_path / "lake/block.parquet"
    pull(run_dag, "block", path, dag_id="parquet_failing")
    before = path.read_bytes()
    feishu_conn.inject("quota", endpoint="block", skip=1)  # fails on the second page, after a page was read

    run = pull(run_dag, "block", path, dag_id="parquet_failing")

    assert run.states["pull"] == "failed"
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["block.parquet"]


def test_output_format_parquet_writes_parquet_whatever_the_file_is_called(run_dag, feishu_conn, tmp_path):
    path = tmp_path / "lake/block.data"

    run = pull(run_dag, "block", path, dag_id="parquet_named", extra=', output_format="parquet"')

    assert run.states["pull"] == "success", run.log
    assert items_from_parquet(path) == feishu_conn.expected_items("block", DAY, DAY)


@pytest.mark.parametrize(
    ("output_path", "output_format", "message"),
    [
        ("file:///lake/part.jsonl", "csv", "output_format='csv' is unknown"),
        ("file:///lake/part.parquet", "jsonl", "contradicts the output path's suffix '.parquet'"),
        ("file:///lake/part.jsonl", "parquet", "contradicts the output path's suffix '.jsonl'"),
    ],
    ids=["unknown format", "jsonl for a .parquet file", "parquet for a .jsonl file"],
)
def test_a_bad_output_format_fails_the_dag_file(output_path, output_format, message):
    from airflow_provider_feishu_workplace.operators.feishu_workplace import FeishuWorkplaceAccessOperator

    with pytest.raises(FeishuConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        FeishuWorkplaceAccessOperator(task_id="pull", output_path=output_path, output_format=output_format)


def test_row_groups_are_written_while_items_arrive(tmp_path):
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    from airflow_provider_feishu_workplace.outputs.files import open_output
    from airflow_provider_feishu_workplace.outputs.parquet import ROW_GROUP_ITEMS

    path = tmp_path / "block.parquet"
    first_day = dt.date(2026, 1, 1)
    items = (
        {
            "date": (first_day + dt.timedelta(days=n % 300)).isoformat(),
            "block_id": f"b{n}",
            "access_data": {"pv": n, "uv": 1},
        }
        for n in range(2 * ROW_GROUP_ITEMS + 5)
    )
    with open_output(ObjectStoragePath(f"file://{path}"), "parquet", endpoint="block") as output:
        for number, item in enumerate(items):
            output.write(item)
            if number == ROW_GROUP_ITEMS + 1:
                temporary = next(p for p in tmp_path.iterdir() if p.name.endswith(".tmp"))
                # One row group is on disk already, before the pull has ended.
                assert temporary.stat().st_size > 4 * ROW_GROUP_ITEMS
        assert output.commit() == 2 * ROW_GROUP_ITEMS + 5

    metadata = pq.ParquetFile(path).metadata
    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == [
        ROW_GROUP_ITEMS,
        ROW_GROUP_ITEMS,
        5,
    ]


def test_parquet_on_s3_is_one_whole_object_and_a_failed_pull_keeps_it(run_dag, feishu_conn, s3_bucket, monkeypatch):
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    key = "custom_workplace/dt=2026-11-19/part.parquet"
    args = dict(
        operator=OPERATORS["custom_workplace"], operator_args=f'output_path="s3://lake_s3@{BUCKET}/{key}", page_size=2'
    )
    run = run_dag("parquet_s3", RUN_DATE, **args)
    assert run.states["pull"] == "success", run.log
    body = s3_bucket.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    expected = feishu_conn.expected_items("custom_workplace", DAY, DAY)
    assert items_from_parquet(pa.BufferReader(body)) == expected
    # The load DAG's reader, through the same object storage.
    tables = load_dag_tables(monkeypatch)
    table = tables.TABLES["custom_workplace"]
    rows = list(tables.read_file_rows(ObjectStoragePath(f"s3://lake_s3@{BUCKET}/{key}"), table))
    assert rows == list(tables.read_rows([json.dumps(item) for item in expected], table, "expected"))
    feishu_conn.inject("quota", endpoint="custom_workplace", skip=1)

    run = run_dag("parquet_s3", RUN_DATE, **args)

    assert run.states["pull"] == "failed"
    assert keys(s3_bucket) == [key]
    assert s3_bucket.get_object(Bucket=BUCKET, Key=key)["Body"].read() == body


@pytest.fixture
def parquet_lake(monkeypatch):
    """The example DAGs' lake in Parquet (set before the ``examples`` fixture parses them)."""
    monkeypatch.setenv("FEISHU_WORKPLACE_LAKE_FORMAT", "parquet")


def test_example_dags_extract_and_load_a_parquet_lake(parquet_lake, examples, feishu_conn, monkeypatch):
    day = "2026-10-01"
    tables = load_dag_tables(monkeypatch)

    assert set(examples.run_extract(day).values()) == {"success"}
    assert set(examples.run_load(day).values()) == {"success"}

    for dataset in OPERATORS:
        path = examples.lake_dir / f"{dataset}_access/dt={day}/part.parquet"
        assert sorted(p.name for p in path.parent.iterdir()) == ["part.parquet"]
        expected_items = feishu_conn.expected_items(dataset, day, day)
        assert items_from_parquet(path) == expected_items
        table = tables.TABLES[dataset]
        lines = [json.dumps(item) for item in expected_items]
        key = [index for index, (name, _) in enumerate(table.columns) if name in table.key]
        expected = sorted(tables.read_rows(lines, table, "expected"), key=lambda row: [row[i] for i in key])
        assert examples.rows(table.name) == expected and expected, dataset
