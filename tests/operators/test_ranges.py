"""Ranges: from_date/to_date pulled in one pass, one file per day with {date}, run by real Airflow."""

from __future__ import annotations

import datetime as dt
import json
import os

import pendulum
import pytest

from airflow_provider_feishu_workplace.exceptions import FeishuConfigError
from airflow_provider_feishu_workplace.operators.feishu_workplace import FeishuWorkplaceAccessOperator
from tests.airflow_versions import asset_events

LOGICAL_DATE = pendulum.datetime(2026, 11, 20, tz="UTC")
OPERATORS = {
    "workplace": "FeishuWorkplaceAccessOperator",
    "custom_workplace": "FeishuCustomWorkplaceAccessOperator",
    "block": "FeishuWorkplaceBlockAccessOperator",
}


def days(first: str, last: str) -> list[str]:
    start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    return [(start + dt.timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def read_lines(path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def snapshot(folder) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder`` (temporary files included): its bytes and modification time."""
    return {
        str(path.relative_to(folder)): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def range_args(first: str, last: str, output: str, extra: str = "") -> str:
    return f"from_date={first!r}, to_date={last!r}, output_path={output!r}, {extra}"


def search_calls(double, dataset: str) -> list[tuple[str, str]]:
    return [(r.query["from_date"], r.query["to_date"]) for r in double.calls(dataset)]


def test_a_year_of_three_data_sets_writes_a_file_per_day_in_one_pass(run_dag, feishu_conn, tmp_path):
    first, last = "2025-01-01", "2025-12-31"
    lake = tmp_path / "lake"
    for dataset, operator in OPERATORS.items():
        output = f"file://{lake}/{dataset}/dt={{date}}/part.jsonl"
        run = run_dag(f"year_{dataset}", LOGICAL_DATE, operator=operator, operator_args=range_args(first, last, output))

        assert run.states == {"pull": "success", "receive": "success"}
        year = days(first, last)
        assert sorted(run.received) == year  # XCom: each day and its file
        assert {path.parent.name for path in (lake / dataset).glob("*/part.jsonl")} == {f"dt={day}" for day in year}
        for day in year:
            assert read_lines(lake / dataset / f"dt={day}" / "part.jsonl") == feishu_conn.expected_items(
                dataset, day, day
            )
        # One pass through the paged endpoint: every request asks for the whole year.
        assert set(search_calls(feishu_conn, dataset)) == {(first, last)}
        event = asset_events(f"year_{dataset}")[-1].extra
        assert (event["from_date"], event["to_date"], event["dataset"]) == (first, last, dataset)
        assert event["days"] == {day: f"file://{lake}/{dataset}/dt={day}/part.jsonl" for day in year}
        assert event["items"] == len(feishu_conn.expected_items(dataset, first, last))
    assert len(feishu_conn.calls("search")) == 2 + 11 + 10  # 365 / 200, 1095 / 100, 1825 / 200 pages

    before = snapshot(lake)
    run = run_dag(
        "year_workplace",
        LOGICAL_DATE,
        operator=OPERATORS["workplace"],
        operator_args=range_args(first, last, f"file://{lake}/workplace/dt={{date}}/part.jsonl"),
    )
    assert run.states["pull"] == "success"
    after = snapshot(lake)
    assert {name: data for name, (data, _) in after.items()} == {name: data for name, (data, _) in before.items()}


def test_a_failure_mid_range_leaves_every_earlier_file_intact(run_dag, feishu_conn, tmp_path):
    first, last = "2026-10-01", "2026-10-10"
    output = f"file://{tmp_path}/lake/dt={{date}}/part.jsonl"
    args = range_args(first, last, output, "page_size=5")
    assert run_dag("mid_range", LOGICAL_DATE, operator=OPERATORS["block"], operator_args=args).states["pull"] == (
        "success"
    )
    before = snapshot(tmp_path / "lake")
    assert len(before) == 10
    # The data changes, and the pull then fails on its fourth page (of ten): a permanent error.
    feishu_conn.set_items("block", "2026-10-01", [])
    feishu_conn.inject("quota", endpoint="block", skip=3)

    run = run_dag("mid_range", LOGICAL_DATE, operator=OPERATORS["block"], operator_args=args)

    assert run.states["pull"] == "failed"
    assert len(feishu_conn.calls("block")) == 10 + 4
    assert snapshot(tmp_path / "lake") == before  # same bytes, untouched, no temporary file left


@pytest.mark.parametrize(
    ("policy", "state", "files"),
    [
        pytest.param("fail", "failed", set(), id="fail-writes-nothing"),
        pytest.param("skip", "success", {"2026-10-01", "2026-10-03"}, id="skip-leaves-the-day-out"),
        pytest.param("allow", "success", {"2026-10-01", "2026-10-02", "2026-10-03"}, id="allow-writes-it-empty"),
    ],
)
def test_empty_day_policy_applies_per_day(run_dag, feishu_conn, tmp_path, policy, state, files):
    feishu_conn.set_items("workplace", "2026-10-02", [])
    output = f"file://{tmp_path}/lake/dt={{date}}/part.jsonl"

    run = run_dag(
        f"empty_{policy}",
        LOGICAL_DATE,
        operator_args=range_args("2026-10-01", "2026-10-03", output, f"on_empty_day={policy!r}"),
    )

    assert run.states["pull"] == state
    written = {path.parent.name.removeprefix("dt=") for path in (tmp_path / "lake").rglob("part.jsonl")}
    assert written == files
    if policy == "allow":
        assert (tmp_path / "lake" / "dt=2026-10-02" / "part.jsonl").read_bytes() == b""
    if state == "success":
        assert sorted(asset_events(f"empty_{policy}")[-1].extra["days"]) == sorted(files)


def test_skip_with_every_day_empty_skips_the_task(run_dag, feishu_conn, tmp_path):
    feishu_conn.publish_at("2026-10-01", None)
    feishu_conn.publish_at("2026-10-02", None)
    output = f"file://{tmp_path}/lake/dt={{date}}/part.jsonl"

    run = run_dag(
        "empty_all", LOGICAL_DATE, operator_args=range_args("2026-10-01", "2026-10-02", output, 'on_empty_day="skip"')
    )

    assert run.states["pull"] == "skipped"
    assert not (tmp_path / "lake").exists() or not list((tmp_path / "lake").rglob("part.jsonl"))


def test_a_range_without_date_in_the_path_is_one_file(run_dag, feishu_conn, tmp_path):
    path = tmp_path / "range.jsonl"

    run = run_dag("one_file", LOGICAL_DATE, operator_args=range_args("2026-09-01", "2026-09-30", f"file://{path}"))

    assert run.received == f"file://{path}"
    assert read_lines(path) == feishu_conn.expected_items("workplace", "2026-09-01", "2026-09-30")
    event = asset_events("one_file")[-1].extra
    assert event["path"] == f"file://{path}"
    assert event["days"] == dict.fromkeys(days("2026-09-01", "2026-09-30"), f"file://{path}")


def test_a_templated_range_to_xcom(run_dag, feishu_conn):
    run = run_dag(
        "templated_range",
        LOGICAL_DATE,
        operator_args='from_date="{{ macros.ds_add(ds, -6) }}", to_date="{{ macros.ds_add(ds, -1) }}"',
    )

    assert run.received == feishu_conn.expected_items("workplace", "2026-11-14", "2026-11-19")
    assert search_calls(feishu_conn, "workplace") == [("2026-11-14", "2026-11-19")]


def test_the_day_placeholder_works_for_a_single_day(run_dag, feishu_conn, tmp_path):
    run = run_dag("one_day", LOGICAL_DATE, operator_args=f"output_path='file://{tmp_path}/dt={{date}}.jsonl'")

    assert run.received == {"2026-11-19": f"file://{tmp_path}/dt=2026-11-19.jsonl"}
    assert read_lines(tmp_path / "dt=2026-11-19.jsonl") == feishu_conn.expected_items(
        "workplace", "2026-11-19", "2026-11-19"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param(
            {"date": "2026-01-01", "from_date": "2026-01-01", "to_date": "2026-01-02"},
            "both given",
            id="date-and-range",
        ),
        pytest.param({"from_date": "2026-01-01"}, "pass both", id="from-without-to"),
        pytest.param({"to_date": "2026-01-01"}, "pass both", id="to-without-from"),
    ],
)
def test_conflicting_day_arguments_fail_the_dag_file(kwargs, message):
    with pytest.raises(FeishuConfigError, match=message):
        FeishuWorkplaceAccessOperator(task_id="pull", **kwargs)


def test_a_reversed_range_fails_before_any_request(run_dag, feishu_conn):
    run = run_dag("reversed", LOGICAL_DATE, operator_args='from_date="2026-10-05", to_date="2026-10-01"')

    assert run.states["pull"] == "failed"
    assert "from_date=2026-10-05 is after to_date=2026-10-01" in run.log
    assert feishu_conn.count("any") == 0


def test_no_temporary_file_is_left_after_a_range(run_dag, feishu_conn, tmp_path):
    run_dag(
        "temps",
        LOGICAL_DATE,
        operator_args=range_args("2026-10-01", "2026-10-05", f"file://{tmp_path}/d/{{date}}.jsonl"),
    )

    assert sorted(os.listdir(tmp_path / "d")) == [f"{day}.jsonl" for day in days("2026-10-01", "2026-10-05")]
