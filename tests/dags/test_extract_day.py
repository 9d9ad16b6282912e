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


def test_the_readmes_backfill_command_runs_the_days_it_names(examples):
    import os
    import re
    import subprocess
    import sys
    from pathlib import Path

    from airflow_provider_feishu_workplace.days import partition_day, run_days
    from tests.airflow_versions import AIRFLOW_V_3_0_PLUS, skip_unless

    skip_unless(AIRFLOW_V_3_0_PLUS, "Airflow 2.11's backfill command is `airflow dags backfill`, with no table to read")
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    command = re.search(r"(airflow backfill create --dag-id feishu_workplace_extract \\\n.*)\n", readme)
    assert command, "README shows no backfill command"
    first, last = re.findall(r"--(?:from|to)-date (\S+)", command.group(1))
    airflow = str(Path(sys.executable).with_name("airflow"))
    env = dict(os.environ)

    subprocess.run([airflow, "dags", "reserialize"], env=env, check=True, capture_output=True, timeout=300)
    dry_run = subprocess.run(
        [airflow, "backfill", "create", "--dag-id", "feishu_workplace_extract"]
        + ["--from-date", first, "--to-date", last, "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert dry_run.returncode == 0, dry_run.stderr[-2000:]
    # A table row "| 2026-11-15 06:00:00+08:00 |" (3.1+) or a list item "    - 2026-11-15 06:00:00+08:00" (3.0).
    stamp = r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d\d:\d\d)"
    table_dates = re.findall(rf"^\s*(?:\||-) {stamp}", dry_run.stdout, flags=re.MULTILINE)
    # Each run's data interval is [logical date, the next 06:00): the day it pulls, by the DAG's own rule.
    starts = [pendulum.parse(text) for text in table_dates]
    pulled = [run_days(start, start.add(days=1), None, "Asia/Shanghai")[1] for start in starts]
    # A partitioned extract (Airflow 3.2+) lists no logical dates but a partition key per run: the day it pulls.
    keys = re.findall(r"^\|\s*\|\s*(\d{4}-\d\d-\d\d)\s*\|", dry_run.stdout, flags=re.MULTILINE)
    pulled = pulled or [partition_day(key) for key in keys]
    expected = [
        (dt.date.fromisoformat(first[:10]) + dt.timedelta(days=n)).isoformat()
        for n in range((dt.date.fromisoformat(last[:10]) - dt.date.fromisoformat(first[:10])).days + 1)
    ]
    assert [day.isoformat() for day in pulled] == expected, dry_run.stdout[-1500:]
