"""One Feishu day = one asset partition (Airflow 3.2+): the example DAGs' partitioned pipeline.

The extract's runs are partitioned runs keyed by their day; the scheduler's own partition code
(``SchedulerJobRunner._create_dagruns_for_partitioned_asset_dags``) decides which load runs the asset events
call for; each is then run with ``dag.test()``. ``dag.test()`` makes unpartitioned runs only, so
:func:`run_partitioned` gives its run the partition key the scheduler (or a backfill) would have.
"""

from __future__ import annotations

from collections import Counter
from unittest import mock
from unittest.mock import ANY

import pendulum
import pytest

from airflow_provider_feishu_workplace._compat import (
    ASSET_PARTITIONS,
    PARTITION_KEYS_IN_DAG_TIME_ZONE,
    TASK_PARTITION_KEYS,
)
from tests.airflow_versions import AIRFLOW_VERSION, BUNDLE_NAME, run_dag_test, set_paused
from tests.conftest import task_states
from tests.dags.test_backfill_dag import expected_range_rows
from tests.dags.test_example_dags import TABLES

pytestmark = pytest.mark.skipif(
    not ASSET_PARTITIONS,
    reason=f"Airflow {AIRFLOW_VERSION} has no asset partitions (they came with 3.2): the example DAGs keep "
    "their unpartitioned design here, tested in test_example_dags.py and test_load_reconcile.py",
)

LOAD = "feishu_workplace_load"
DAYS = ["2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04", "2026-10-05"]
# Airflow counts a partition's events across runs (a day all three data sets ever had is complete), and the
# metadata database is shared by the tests of a process: each test takes days of its own.
RERUN_DAYS = ["2026-10-11", "2026-10-12"]
BACKFILL_DAYS = ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05"]


def run_partitioned(dag, key: str, *, logical_date=None, run_conf=None):
    """Run ``dag.test()`` as a run keyed ``key``: the partitioned run a scheduler or backfill would make."""
    import airflow.models.dagrun as dagrun_module

    make_run = dagrun_module.get_or_create_dagrun

    def keyed_run(**kwargs):
        run = make_run(**kwargs)
        run.partition_key = key
        kwargs["session"].commit()
        return run

    with mock.patch.object(dagrun_module, "get_or_create_dagrun", keyed_run):
        return run_dag_test(dag, logical_date=logical_date or pendulum.now("UTC"), run_conf=run_conf)


def scheduled_load_keys(dag_id: str = LOAD) -> list[str]:
    """Let the scheduler create the runs of ``dag_id`` the partitioned asset events call for; return their keys.

    The runs stay queued (no scheduler runs them here; deleting one would make Airflow create it again): each
    is run through ``dag.test()`` under its key instead.
    """
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import func

    def asset_triggered(session):
        return session.query(DagRun).filter(DagRun.dag_id == dag_id, DagRun.run_type == "asset_triggered")

    runner = SchedulerJobRunner(job=Job(), executors=[])
    with create_session() as session:
        before = asset_triggered(session).with_entities(func.max(DagRun.id)).scalar() or 0
        created = runner._create_dagruns_for_partitioned_asset_dags(session)
        session.flush()
        keys = sorted(run.partition_key for run in asset_triggered(session).filter(DagRun.id > before))
    assert bool(keys) == (dag_id in created)
    return keys


@pytest.fixture(autouse=True)
def partitioned_examples(monkeypatch):
    """The example DAGs in their partitioned design (the default from Airflow 3.3, asked for on 3.2)."""
    monkeypatch.setenv("FEISHU_WORKPLACE_PARTITIONS", "on")


def sync_to_db(dag_folder) -> None:
    """Write the folder's DAGs to the metadata database, as the DAG processor does: Airflow queues partitions
    for the load the database holds (an earlier test's unpartitioned one, otherwise)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    sync_bag_to_db(dag_folder.parse(), BUNDLE_NAME, None)


@pytest.fixture
def pipeline(examples, dag_folder):
    """The examples, with the load unpaused (Airflow queues no partition for a paused DAG) and a load tally."""
    sync_to_db(dag_folder)
    set_paused(LOAD, False)
    scheduled_load_keys()  # drop what earlier tests in this process left pending

    class Pipeline:
        loads: Counter = Counter()

        @staticmethod
        def extract(day: str, key: str | None = None) -> dict[str, str]:
            """A scheduled extract run for ``day``: keyed by it, at 06:00 the next day in the DAG's time zone."""
            run_time = pendulum.parse(day, tz="Asia/Shanghai").add(days=1, hours=6)
            return task_states(run_partitioned(examples.extract, key or day, logical_date=run_time))

        @staticmethod
        def schedule_and_run_loads() -> list[str]:
            keys = scheduled_load_keys()
            for key in keys:
                Pipeline.loads[key] += 1
                assert set(task_states(run_partitioned(examples.load, key)).values()) == {"success"}
            return keys

    yield Pipeline
    set_paused(LOAD, True)


def test_the_extract_runs_daily_for_the_day_before_in_the_dags_time_zone_keyed_by_it(examples):
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import TimeRestriction

    timetable = coerce_to_core_timetable(examples.extract.timetable)
    earliest = pendulum.datetime(2026, 10, 2, 5, tz="Asia/Shanghai")

    info = timetable.next_dagrun_info_v2(
        last_dagrun_info=None, restriction=TimeRestriction(earliest=earliest, latest=None, catchup=True)
    )

    if PARTITION_KEYS_IN_DAG_TIME_ZONE:  # Airflow 3.3+: at 06:00, keyed by the day before
        assert info.run_after == pendulum.datetime(2026, 10, 2, 6, tz="Asia/Shanghai")
        assert info.partition_key == "2026-10-01"
    else:  # Airflow 3.2: in the day's last hour, keyed by the day, which a backfill then names (docs/partitions.md)
        assert info.run_after == pendulum.datetime(2026, 10, 2, 23, tz="Asia/Shanghai")
        assert info.partition_key == "2026-10-02"


def test_each_extract_run_carries_its_day_as_partition_key_and_pulls_that_day(pipeline, examples):
    from tests.airflow_versions import asset_events

    states = pipeline.extract("2026-09-01")

    assert set(states.values()) == {"success"}
    assert {(r.query["from_date"], r.query["to_date"]) for r in examples.double.calls("search")} == {
        ("2026-09-01", "2026-09-01")
    }
    events = [e for e in asset_events("feishu_workplace_extract") if e.partition_key == "2026-09-01"]
    assert sorted(e.extra["dataset"] for e in events) == ["block", "custom_workplace", "workplace"]
    assert all(e.extra["days"] == {"2026-09-01": ANY} for e in events)


def test_a_key_that_is_not_a_day_fails_the_run_before_any_request_naming_the_key(pipeline, examples, capsys):
    capsys.readouterr()

    states = pipeline.extract("2026-10-01", key="2026-10-01T06:00:00")

    assert set(states.values()) == {"failed", "upstream_failed"}
    assert examples.double.requests == []
    assert "partition_key='2026-10-01T06:00:00' names no Feishu day" in capsys.readouterr().out


def test_the_load_runs_once_per_partition_when_all_three_data_sets_have_it_and_loads_that_day(pipeline, examples):
    examples.double.inject("quota", endpoint="block", times=1)  # the block task's one request
    assert pipeline.extract(DAYS[0])["block"] == "failed"

    assert pipeline.schedule_and_run_loads() == []  # two data sets of three: no load yet

    assert set(pipeline.extract(DAYS[0]).values()) == {"success"}
    assert pipeline.schedule_and_run_loads() == [DAYS[0]]
    assert pipeline.schedule_and_run_loads() == []

    expected = expected_range_rows(examples.double, DAYS[0], DAYS[0])
    for table in TABLES:
        assert examples.rows(table) == expected[table]


def test_a_rerun_of_one_days_extract_leads_to_exactly_one_more_load_of_that_day(pipeline, examples):
    for day in RERUN_DAYS:
        pipeline.extract(day)
    assert pipeline.schedule_and_run_loads() == RERUN_DAYS
    changed = [{"date": RERUN_DAYS[1], "block_id": "blk_new", "access_data": {"pv": 9, "uv": 4}}]
    examples.double.set_items("block", RERUN_DAYS[1], changed)

    pipeline.extract(RERUN_DAYS[1])

    assert pipeline.schedule_and_run_loads() == [RERUN_DAYS[1]]
    assert pipeline.loads == {RERUN_DAYS[0]: 1, RERUN_DAYS[1]: 2}
    expected = expected_range_rows(examples.double, RERUN_DAYS[0], RERUN_DAYS[1])
    for table in TABLES:
        assert examples.rows(table) == expected[table]
    assert (RERUN_DAYS[1], "blk_new", 9, 4) in examples.rows("feishu_block_access")


@pytest.mark.skipif(
    ASSET_PARTITIONS and not TASK_PARTITION_KEYS,
    reason=f"Airflow {AIRFLOW_VERSION}: a task names its events' partitions from Airflow 3.3 (on 3.2 a range "
    "pulled in one run makes unpartitioned events; backfill with airflow backfill create there)",
)
def test_a_five_day_backfill_dag_run_gives_five_partitioned_loads_and_the_warehouse_equals_the_double(
    pipeline, examples, dag_folder
):
    from tests.dags.test_backfill_dag import backfill_dag

    states = task_states(
        run_dag_test(backfill_dag(dag_folder), run_conf={"from_date": BACKFILL_DAYS[0], "to_date": BACKFILL_DAYS[-1]})
    )

    assert set(states.values()) == {"success"}
    assert pipeline.schedule_and_run_loads() == BACKFILL_DAYS
    assert pipeline.loads == dict.fromkeys(BACKFILL_DAYS, 1)
    # No sweep and no reconciling run: the partitioned loads alone fill the warehouse.
    expected = expected_range_rows(examples.double, BACKFILL_DAYS[0], BACKFILL_DAYS[-1])
    for table in TABLES:
        assert examples.rows(table) == expected[table]


def airflow_backfill_keys(dag_folder, first_day: str, last_day: str) -> list[str]:
    """``airflow backfill create`` of the extract from ``first_day`` to ``last_day`` (in the DAG's time zone):
    the partition keys of the runs it makes, which are then removed (the tests run each under its key)."""
    from airflow.models.backfill import Backfill, _create_backfill
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    sync_to_db(dag_folder)  # what the DAG processor does before a backfill
    backfill = _create_backfill(
        dag_id="feishu_workplace_extract",
        from_date=pendulum.parse(first_day, tz="Asia/Shanghai"),
        # Airflow compares --to-date with each day's tick (06:00; 23:00 on 3.2): the last day's end includes it.
        to_date=pendulum.parse(last_day, tz="Asia/Shanghai").end_of("day"),
        max_active_runs=1,
        reverse=False,
        dag_run_conf=None,
        triggering_user_name="test",
    )
    with create_session() as session:
        runs = session.query(DagRun).filter(DagRun.backfill_id == backfill.id).all()
        keys = sorted(run.partition_key for run in runs)
        for run in runs:
            session.delete(run)
        # Done, as the scheduler marks a backfill without runs left: Airflow allows one running backfill a DAG.
        session.query(Backfill).filter(Backfill.id == backfill.id).update({"completed_at": pendulum.now("UTC")})
    return keys


def test_airflow_backfill_create_makes_one_partitioned_extract_run_per_day_it_names(examples, dag_folder):
    # Days no other test's runs have: a backfill skips a day that has a run already (Airflow 3.2 by its key).
    days = ["2026-09-21", "2026-09-22", "2026-09-23", "2026-09-24", "2026-09-25"]

    assert airflow_backfill_keys(dag_folder, days[0], days[-1]) == days


def test_a_five_day_airflow_backfill_gives_five_partitioned_loads_and_the_warehouse_equals_the_double(
    pipeline, examples, dag_folder
):
    keys = airflow_backfill_keys(dag_folder, "2026-08-01", "2026-08-05")
    assert keys == ["2026-08-01", "2026-08-02", "2026-08-03", "2026-08-04", "2026-08-05"]
    for key in keys:  # each backfill run, under its key
        assert set(pipeline.extract(key).values()) == {"success"}

    assert pipeline.schedule_and_run_loads() == keys
    assert pipeline.loads == dict.fromkeys(keys, 1)
    # No sweep and no reconciling run: the partitioned loads alone fill the warehouse.
    expected = expected_range_rows(examples.double, keys[0], keys[-1])
    for table in TABLES:
        assert examples.rows(table) == expected[table]
