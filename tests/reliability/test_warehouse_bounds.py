"""Values no warehouse column holds are refused by name; unknown nested fields are reported, run by real Airflow."""

from __future__ import annotations

import pendulum
import pyarrow.parquet as pq
import pytest

LOGICAL_DATE = pendulum.datetime(2026, 11, 20, tz="UTC")
DAY = "2026-11-19"


def block(block_id: str = "blk_1", pv: int = 3, uv: int = 2) -> dict:
    return {"date": DAY, "block_id": block_id, "access_data": {"pv": pv, "uv": uv}}


TOO_BIG = [
    pytest.param(block(pv=2**63), "access_data.pv is 9223372036854775808: larger than 2**63 - 1", id="pv-2**63"),
    pytest.param(block(uv=2**64 + 5), "access_data.uv is 18446744073709551621: larger than 2**63 - 1", id="uv-2**64"),
    pytest.param(block("b" * 129), "field block_id is 'bbbb", id="id-129-chars"),
    pytest.param(block("blk\x001"), "field block_id is 'blk\\x001': it holds a NUL character", id="id-with-nul"),
]


@pytest.mark.parametrize("output_format", ["parquet", "jsonl"])
@pytest.mark.parametrize(("item", "message"), TOO_BIG)
def test_a_value_the_warehouse_cannot_hold_fails_naming_the_day_the_id_and_the_field(
    run_dag, feishu_conn, tmp_path, item, message, output_format
):
    feishu_conn.set_items("block", DAY, [block("blk_0"), item])
    target = tmp_path / f"part.{output_format}"

    run = run_dag(
        f"too_big_{output_format}",
        LOGICAL_DATE,
        operator="FeishuWorkplaceBlockAccessOperator",
        operator_args=f"output_path='file://{target}'",
    )

    assert run.states["pull"] != "success"
    assert f"Feishu sent a malformed block item (date {DAY}, block_id " in run.log
    assert message in run.log
    assert "too large to convert" not in run.log
    assert not target.exists()


def test_the_largest_values_a_warehouse_holds_pass(run_dag, feishu_conn, tmp_path):
    largest = block("b" * 128, pv=2**63 - 1, uv=2**63 - 1)
    feishu_conn.set_items("block", DAY, [largest])
    target = tmp_path / "part.parquet"

    run = run_dag(
        "largest",
        LOGICAL_DATE,
        operator="FeishuWorkplaceBlockAccessOperator",
        operator_args=f"output_path='file://{target}'",
    )

    assert run.states["pull"] == "success"
    assert pq.read_table(target).to_pylist()[0]["access_data"] == {"pv": 2**63 - 1, "uv": 2**63 - 1}


UNKNOWN_NESTED = [
    pytest.param(
        "block",
        {**block(), "access_data": {"pv": 1, "uv": 1, "extra": 2}},
        "['access_data.extra']",
        id="in-counts",
    ),
    pytest.param(
        "custom_workplace",
        {
            "date": DAY,
            "custom_workplace_id": "tpl_1",
            "access_data": {"pv": 1, "uv": 1},
            "custom_workplace_name": [{"language": "zh_cn", "name": "销售", "extra": "x"}],
        },
        "['custom_workplace_name[].extra']",
        id="in-name-entries",
    ),
    pytest.param(
        "block",
        {**block(), "top": 1, "access_data": {"pv": 1, "uv": 1, "more": 2, "most": 3}},
        "['access_data.more', 'access_data.most', 'top']",
        id="top-level-and-nested",
    ),
]


@pytest.mark.parametrize(("dataset", "item", "named"), UNKNOWN_NESTED)
def test_unknown_fields_inside_counts_and_names_are_named_like_top_level_ones(
    run_dag, feishu_conn, tmp_path, dataset, item, named
):
    feishu_conn.set_items(dataset, DAY, [item])
    target = tmp_path / "part.parquet"
    operator = {
        "block": "FeishuWorkplaceBlockAccessOperator",
        "custom_workplace": "FeishuCustomWorkplaceAccessOperator",
    }

    run = run_dag(
        f"nested_{dataset}", LOGICAL_DATE, operator=operator[dataset], operator_args=f"output_path='file://{target}'"
    )

    assert run.states["pull"] == "success"
    assert f"carry fields {named} that the Parquet schema does not name" in run.log
