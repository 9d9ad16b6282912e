"""The extract DAG's `day` parameter, retries and pool: manual runs pull what users mean."""

from __future__ import annotations

import datetime as dt

import pendulum

from tests.airflow_versions import run_dag_test
from tests.conftest import task_states
from tests.dag_runs import EXAMPLE_DAY as DAY

OTHER_DAY = "2026-10-03"


def test_a_run_given_a_day_pulls_that_day_whatever_its_logical_date(examples):
    logical_date = pendulum.parse(DAY, tz="Asia/Shanghai").add(days=1, hours=6)

    states = task_states(run_dag_test(examples.extract, logical_date=logical_date, run_conf={"day": OTHER_DAY}))

    assert set(states.values()) == {"success"}
    assert {r.query["from_date"] for r in examples.double.requests if r.endpoint in ("workplace", "block")} == {
        OTHER_DAY
    }
    files = sorted(p.relative_to(examples.lake_dir).as_posix() for p in examples.lake_dir.rglob("*") if p.is_file())
    assert files == [
        f"{dataset}_access/dt={OTHER_DAY}/part.jsonl" for dataset in ("block", "custom_workplace", "workplace")
    ]


def test_manual_runs_given_different_days_pull_different_days(examples):
    days = ["2026-10-05", "2026-10-06"]
    logical_date = pendulum.parse(DAY, tz="Asia/Shanghai").add(days=1, hours=6)

    for offset, day in enumerate(days):
        run = run_dag_test(examples.extract, logical_date=logical_date.add(minutes=offset), run_conf={"day": day})
        assert set(task_states(run).values()) == {"success"}

    assert sorted(p.parent.name for p in examples.lake_dir.glob("block_access/*/part.jsonl")) == [
        f"dt={day}" for day in days
    ]


def test_a_day_that_is_not_a_date_is_refused_naming_it(examples):
    logical_date = pendulum.parse(DAY, tz="Asia/Shanghai").add(days=1, hours=6)

    # Airflow checks the param's date format when the run is created (3.x); where it does not, the run fails.
    try:
        states = task_states(run_dag_test(examples.extract, logical_date=logical_date, run_conf={"day": "2026-13-45"}))
    except Exception as error:  # ParamValidationError, from a different module per version
        assert "2026-13-45" in str(error) and "day" in str(error)
    else:
        assert set(states.values()) == {"failed"}
    assert examples.double.count("search") == 0
    assert not any(examples.lake_dir.rglob("*.jsonl"))


def test_retries_are_short_and_the_pulls_share_the_apps_pool(examples, dag_folder):
    bag = dag_folder.parse()
    extract = bag.get_dag("feishu_workplace_extract")  # the examples fixture set retries to 0 on its copy

    for task in extract.tasks:
        assert task.pool == "feishu_workplace"
        assert 1 <= task.retries <= 3
        assert task.retry_delay <= dt.timedelta(minutes=1)
        assert task.max_retry_delay <= dt.timedelta(minutes=5)
