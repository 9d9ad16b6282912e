"""The example backfill DAG: a range of three data sets in one task each, then the load, through ``dag.test()``."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.airflow_versions import asset_events, run_dag_test
from tests.conftest import task_states
from tests.dags.test_example_dags import TABLES, expected_rows

FIRST, LAST = "2026-09-01", "2026-09-30"


def range_days(first: str, last: str) -> list[str]:
    start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    return [(start + dt.timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def expected_range_rows(double, first: str, last: str) -> dict[str, list[tuple]]:
    rows: dict[str, list[tuple]] = {table: [] for table in TABLES}
    for day in range_days(first, last):
        for table, day_rows in expected_rows(double, day).items():
            rows[table].extend(day_rows)
    return {table: sorted(table_rows) for table, table_rows in rows.items()}


@pytest.fixture(autouse=True)
def no_queued_load_afterwards():
    """Forget the load runs the backfill's asset events queued, so later tests see a scheduler with none."""
    yield
    from airflow.utils.session import create_session

    try:
        from airflow.models.asset import AssetDagRunQueue as Queue
    except ImportError:  # Airflow 2 calls assets datasets
        from airflow.models.dataset import DatasetDagRunQueue as Queue
    with create_session() as session:
        session.query(Queue).filter(Queue.target_dag_id == "feishu_workplace_load").delete()


def backfill_dag(dag_folder):
    dag = dag_folder.parse().get_dag("feishu_workplace_backfill")
    for task in dag.tasks:
        task.retries = 0
    return dag


def test_backfill_pulls_each_data_set_in_one_task_and_the_load_loads_every_day_once(examples, dag_folder):
    backfill = backfill_dag(dag_folder)

    run = run_dag_test(backfill, run_conf={"from_date": FIRST, "to_date": LAST})
    states = task_states(run)

    assert states == {"workplace": "success", "custom_workplace": "success", "block": "success"}
    # One pass per data set: every search asked for the whole range.
    assert {(r.query["from_date"], r.query["to_date"]) for r in examples.double.calls("search")} == {(FIRST, LAST)}
    for dataset in ("workplace", "custom_workplace", "block"):
        folders = {path.parent.name for path in (examples.lake_dir / f"{dataset}_access").glob("*/part.jsonl")}
        assert folders == {f"dt={day}" for day in range_days(FIRST, LAST)}
    # This run's: other tests of the same worker run the backfill DAG over other ranges.
    events = [event for event in asset_events("feishu_workplace_backfill") if event.source_run_id == run.run_id]
    # One event per data set, or (partitioned, Airflow 3.3+) one per data set and day, each naming the range.
    assert {event.extra["dataset"] for event in events} == {"block", "custom_workplace", "workplace"}
    assert all(sorted(event.extra["days"]) == range_days(FIRST, LAST) for event in events)

    assert set(task_states(run_dag_test(examples.load)).values()) == {"success"}
    expected = expected_range_rows(examples.double, FIRST, LAST)
    for table in TABLES:
        assert sorted(examples.rows(table)) == expected[table]

    # Again, over an overlapping range: the overlap is replaced, not added twice.
    run_dag_test(backfill, run_conf={"from_date": "2026-09-20", "to_date": "2026-10-05"})
    assert set(task_states(run_dag_test(examples.load)).values()) == {"success"}
    expected = expected_range_rows(examples.double, FIRST, "2026-10-05")
    for table in TABLES:
        rows = sorted(examples.rows(table))
        assert rows == expected[table]
        assert len(rows) == len(set(rows))


def test_a_backfill_without_its_range_fails_before_any_request(examples, dag_folder):
    backfill = backfill_dag(dag_folder)

    try:
        dag_run = run_dag_test(backfill, run_conf={"from_date": FIRST})
    except Exception as error:  # Airflow refuses a run whose params fail their schema
        assert "to_date" in str(error)
    else:
        assert set(task_states(dag_run).values()) == {"failed"}
    assert examples.double.count("search") == 0
