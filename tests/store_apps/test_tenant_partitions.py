"""A store app's tenant-day partitions (Airflow 3.3+, FEISHU_WORKPLACE_TENANT_PARTITIONS=on): each tenant's pull
names its day as partition ``<tenant_key>|YYYY-MM-DD``, and ``feishu_workplace_load_tenants`` loads each
tenant's day on its own, once all three data sets have it.

As in tests/dags/test_partitions.py, the scheduler's own partition code decides which load runs the events
call for, and each is then run with ``dag.test()`` under its key. Airflow counts a partition's events across
runs and the metadata database is shared by the tests of a process: each test takes a day of its own.
"""

from __future__ import annotations

from collections import Counter

import pendulum
import pytest

from airflow_provider_feishu_workplace._compat import TASK_PARTITION_KEYS
from tests.airflow_versions import AIRFLOW_VERSION, asset_events, run_dag_test, set_paused
from tests.conftest import task_states
from tests.dags.test_example_dags import expected_rows
from tests.dags.test_partitions import run_partitioned, scheduled_load_keys, sync_to_db
from tests.store_apps.test_tenants_dag import DATASETS, TABLES, TENANTS, store, warehouse_rows  # noqa: F401

pytestmark = pytest.mark.skipif(
    not TASK_PARTITION_KEYS,
    reason=f"Airflow {AIRFLOW_VERSION}: a task names its events' partitions from Airflow 3.3 (on 3.2 an event "
    "carries its run's key only, and a tenants run pulls every tenant): the tenants DAG loads itself there",
)

LOAD_TENANTS = "feishu_workplace_load_tenants"


@pytest.fixture(autouse=True)
def tenant_partitions(monkeypatch):
    """The example DAGs with tenant partitions (set before they are parsed)."""
    monkeypatch.setenv("FEISHU_WORKPLACE_TENANT_PARTITIONS", "on")


@pytest.fixture
def pipeline(store, dag_folder):
    """The tenants DAG and the tenant load (unpaused: Airflow queues no partition for a paused DAG), a load tally."""
    sync_to_db(dag_folder)
    bag = dag_folder.parse()
    tenants_dag, load_dag = bag.get_dag("feishu_workplace_tenants"), bag.get_dag(LOAD_TENANTS)
    for task in load_dag.tasks:
        task.retries = 0
    set_paused(LOAD_TENANTS, False)
    scheduled_load_keys(LOAD_TENANTS)  # drop what earlier tests in this process left pending

    class Pipeline:
        loads: Counter = Counter()
        runs = 0
        load = load_dag

        @staticmethod
        def pull(day: str, **conf) -> dict:
            """A tenants run for ``day`` (``conf``: its params, such as ``tenant_key``); its task states."""
            Pipeline.runs += 1  # a logical date of its own: dag.test() replaces a run of the same date
            run_time = pendulum.parse(day, tz="Asia/Shanghai").add(days=1, hours=6, minutes=Pipeline.runs)
            dag_run = run_dag_test(tenants_dag, logical_date=run_time, run_conf={"day": day, **conf})
            store.run_id = dag_run.run_id
            return {(ti.task_id, ti.map_index): str(ti.state) for ti in dag_run.get_task_instances()}

        @staticmethod
        def schedule_and_run_loads() -> list[str]:
            keys = scheduled_load_keys(LOAD_TENANTS)
            for key in keys:
                Pipeline.loads[key] += 1
                assert set(task_states(run_partitioned(load_dag, key)).values()) == {"success"}, key
            return keys

        @staticmethod
        def tenant_rows(table: str, tenant_key: str) -> list[tuple]:
            return [row for row in warehouse_rows(store, table) if row[1] == tenant_key]

    yield Pipeline
    set_paused(LOAD_TENANTS, True)


def expected_tenant_rows(double, table: str, day: str, tenant_key: str) -> list[tuple]:
    return sorted((row[0], tenant_key, *row[1:]) for row in expected_rows(double, day)[table])


def test_each_tenants_pull_names_its_day_as_the_partition_tenant_key_bar_day(pipeline, store):
    day = "2026-07-01"

    states = pipeline.pull(day)

    assert set(states.values()) == {"success"}
    assert not any(task_id.startswith("load_") for task_id, _ in states)  # the tenant load loads
    events = [e for e in asset_events("feishu_workplace_tenants") if e.source_run_id == store.run_id]
    assert sorted((e.partition_key, e.extra["dataset"]) for e in events) == sorted(
        (f"{tenant_key}|{day}", dataset) for tenant_key in TENANTS for dataset in DATASETS
    )
    assert all(e.partition_key == f"{e.extra['tenant_key']}|{day}" for e in events)


def test_each_tenant_day_loads_once_on_its_own_with_exactly_its_rows(pipeline, store):
    day = "2026-07-02"
    pipeline.pull(day)

    keys = scheduled_load_keys(LOAD_TENANTS)
    assert keys == [f"{tenant_key}|{day}" for tenant_key in TENANTS]
    for number, key in enumerate(keys, start=1):
        assert set(task_states(run_partitioned(pipeline.load, key)).values()) == {"success"}
        for table in TABLES.values():
            # This tenant's rows, and only the tenants loaded so far.
            assert {row[1] for row in warehouse_rows(store, table) if row[0] == day} == set(TENANTS[:number])
            assert pipeline.tenant_rows(table, TENANTS[number - 1]) == expected_tenant_rows(
                store.double, table, day, TENANTS[number - 1]
            )
    assert scheduled_load_keys(LOAD_TENANTS) == []


def test_a_rerun_of_one_tenants_day_gives_exactly_one_more_load_of_that_tenant_day(pipeline, store):
    day = "2026-07-03"
    pipeline.pull(day)
    assert pipeline.schedule_and_run_loads() == [f"{tenant_key}|{day}" for tenant_key in TENANTS]

    states = pipeline.pull(day, tenant_key=TENANTS[1])

    assert [state for (task_id, _), state in sorted(states.items()) if task_id == "pull_block"] == ["success"]
    assert pipeline.schedule_and_run_loads() == [f"{TENANTS[1]}|{day}"]
    assert pipeline.loads == {f"{TENANTS[0]}|{day}": 1, f"{TENANTS[1]}|{day}": 2, f"{TENANTS[2]}|{day}": 1}
    for table in TABLES.values():
        for tenant_key in TENANTS:
            assert pipeline.tenant_rows(table, tenant_key) == expected_tenant_rows(store.double, table, day, tenant_key)


def test_a_stopped_tenant_does_not_block_the_other_tenants_loads(pipeline, store):
    day = "2026-07-04"
    stopped = TENANTS[0]
    store.double.set_tenant(stopped, enabled=False)  # its admin stopped the app; the registry does not know yet

    states = pipeline.pull(day)

    assert [state for (task_id, _), state in sorted(states.items()) if task_id == "pull_workplace"] == [
        "failed",
        "success",
        "success",
    ]
    assert pipeline.schedule_and_run_loads() == [f"{tenant_key}|{day}" for tenant_key in TENANTS[1:]]
    for table in TABLES.values():
        assert pipeline.tenant_rows(table, stopped) == []
        for tenant_key in TENANTS[1:]:
            assert pipeline.tenant_rows(table, tenant_key) == expected_tenant_rows(store.double, table, day, tenant_key)


def test_a_tenant_load_whose_key_is_not_a_tenants_day_fails_before_reading_naming_the_key(pipeline, store, capsys):
    capsys.readouterr()

    states = task_states(run_partitioned(pipeline.load, "2026-07-05"))

    assert set(states.values()) == {"failed"}
    assert "partition_key='2026-07-05' names no tenant's day" in capsys.readouterr().out
