"""Fixtures that run DAGs through real Airflow: generated one-operator DAGs, and the example DAGs in dags/."""

from __future__ import annotations

import json
import sqlite3
import sys
import textwrap
from contextlib import closing
from dataclasses import dataclass

import pendulum
import pytest

from tests.airflow_versions import run_dag_test
from tests.conftest import task_states

EXAMPLE_DAY = "2026-10-01"


def dag_source(
    dag_id: str,
    *,
    received_file,
    operator: str = "FeishuWorkplaceAccessOperator",
    operator_args: str = "",
    schedule: str = '"@daily"',
    tz: str = "UTC",
    hook_params: str = '{"backoff_base": 0.01}',
) -> str:
    """A DAG: one access operator, and a downstream task that saves the XCom it receives."""
    return textwrap.dedent(
        f"""
        import json
        import pendulum
        from airflow.providers.common.compat.sdk import DAG, task
        from airflow.timetables.interval import CronDataIntervalTimetable
        from airflow_provider_feishu_workplace.operators.feishu_workplace import {operator}

        with DAG(
            {dag_id!r},
            schedule={schedule},
            start_date=pendulum.datetime(2026, 1, 1, tz={tz!r}),
            catchup=False,
        ):
            pull = {operator}(task_id="pull", hook_params={hook_params}, {operator_args})

            @task
            def receive(value):
                with open({str(received_file)!r}, "w", encoding="utf-8") as handle:
                    json.dump(value, handle, ensure_ascii=False)

            receive(pull.output)
        """
    )


@dataclass
class Run:
    """One ``dag.test()`` run: task states, what the downstream task received, and the run's log."""

    states: dict[str, str]
    received: object
    log: str


@pytest.fixture
def run_dag(dag_folder, feishu_conn, tmp_path, capsys):
    """Parse a generated DAG and run it with ``dag.test()``."""
    received_file = tmp_path / "received.json"

    def run(dag_id: str, logical_date, **source_args) -> Run:
        received_file.unlink(missing_ok=True)
        dag = dag_folder.load(dag_source(dag_id, received_file=received_file, **source_args), dag_id)
        capsys.readouterr()
        dag_run = run_dag_test(dag, logical_date=logical_date)
        received = json.loads(received_file.read_text(encoding="utf-8")) if received_file.exists() else None
        return Run(task_states(dag_run), received, capsys.readouterr().out)

    return run


@pytest.fixture
def examples(dag_folder, feishu_conn, tmp_path, monkeypatch):
    """The example DAGs in Airflow's DAGs folder, a lake in tmp_path, and a SQLite warehouse."""
    lake = tmp_path / "lake"
    monkeypatch.setenv("FEISHU_WORKPLACE_LAKE", f"file://{lake}")
    warehouse = tmp_path / "warehouse.db"
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(warehouse)}))
    # The shared config module reads the environment when imported: import it afresh for this test.
    for module in ("feishu_workplace_config", "feishu_workplace_tables"):
        sys.modules.pop(module, None)
    dag_folder.add_example_dags()
    bag = dag_folder.parse()
    assert bag.import_errors == {}
    for dag in bag.dags.values():
        for task in dag.tasks:
            task.retries = 0  # dag.test() would sit out the real retry delays (30 minutes and more)

    class Examples:
        extract = bag.get_dag("feishu_workplace_extract")
        load = bag.get_dag("feishu_workplace_load")
        lake_dir = lake
        double = feishu_conn

        @staticmethod
        def run_extract(day: str):
            interval_end = pendulum.parse(day, tz="Asia/Shanghai").add(days=1, hours=6)
            return task_states(run_dag_test(Examples.extract, logical_date=interval_end))

        @staticmethod
        def run_load(day: str):
            return task_states(run_dag_test(Examples.load, run_conf={"day": day}))

        @staticmethod
        def rows(table: str) -> list[tuple]:
            with closing(sqlite3.connect(warehouse)) as db:
                return db.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()

    return Examples
