"""The end-to-end figure: ``airflow dags test`` of the example extract and load DAGs against a do-nothing pair.

The set-up follows ``scripts/demo.py``: Airflow's home and metadata database (SQLite, migrated once,
not timed), a DAGs folder holding the example DAGs and two trivial DAGs of the same shape, a lake of
JSON Lines files, a SQLite warehouse, and the Feishu double served from its command line in a
subprocess (default 20 requests/second limit). Every ``airflow dags test`` is a fresh CLI process
timed from start to exit; our pair and the trivial pair run alternately, so machine noise hits both.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from airflow_provider_feishu_workplace.testing import ServedDouble, served_double

ROOT = Path(__file__).resolve().parent.parent
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
TIMEZONE = "Asia/Shanghai"
OURS = ("feishu_workplace_extract", "feishu_workplace_load")
TRIVIAL = ("bench_trivial_extract", "bench_trivial_load")

TRIVIAL_DAGS = '''\
"""Two do-nothing DAGs shaped like the example extract and load DAGs: the end-to-end baseline of the bench."""

import pendulum
from airflow.sdk import DAG, Param, task
from airflow.timetables.interval import CronDataIntervalTimetable

DATASETS = ("workplace", "custom_workplace", "block")


@task
def nothing(params=None):
    """Do nothing, through the same task runner as a real task."""


with DAG(
    dag_id="bench_trivial_extract",
    schedule=CronDataIntervalTimetable("0 6 * * *", timezone="Asia/Shanghai"),
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
):
    for dataset in DATASETS:
        nothing.override(task_id=dataset)()

with DAG(
    dag_id="bench_trivial_load",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    params={"day": Param(None, type=["null", "string"], format="date")},
):
    for dataset in DATASETS:
        nothing.override(task_id=f"load_{dataset}")()
'''

_RUN_STATE = re.compile(r"DagRun Finished: dag_id=(\w+),.*?\bstate=(\w+)")


@dataclass
class EndToEnd:
    """Median seconds of one extract + load pair, ours and trivial, and what each run took."""

    ours: float
    trivial: float
    ours_runs: list[float]
    trivial_runs: list[float]
    rows_loaded: int

    @property
    def added(self) -> float:
        """What our work adds, as a fraction of the trivial pair's time."""
        return self.ours / self.trivial - 1


def prepare(work: Path, say: Callable[[str], None]) -> dict[str, str]:
    """Lay out the DAGs folder, lake and warehouse under ``work``; migrate the metadata DB; return the env."""
    shutil.rmtree(work, ignore_errors=True)
    dags = work / "dags"
    dags.mkdir(parents=True)
    for source in (ROOT / "dags").glob("*.py"):
        shutil.copy(source, dags / source.name)
    (dags / "bench_trivial_dags.py").write_text(TRIVIAL_DAGS, encoding="utf-8")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(work / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "FEISHU_WORKPLACE_LAKE": f"file://{work / 'lake'}",
        "FEISHU_WORKPLACE_TIMEZONE": TIMEZONE,
        "AIRFLOW_CONN_FEISHU_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(work / "warehouse.db")}),
    }
    env.pop("AIRFLOW__LOGGING__LOGGING_LEVEL", None)  # the CLI runs at its usual level, as a user would see it
    say("6/6 end to end: airflow db migrate (not timed) ...")
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True, timeout=600)
    return env


def use_double(env: dict[str, str], served: ServedDouble) -> None:
    """Point ``feishu_default`` in ``env`` at a served double."""
    env["AIRFLOW_CONN_FEISHU_DEFAULT"] = served.connection()


def dags_test(env: dict[str, str], dag_id: str, *args: str) -> float:
    """Run ``airflow dags test DAG_ID ARGS...``; return its wall-clock seconds; fail unless the run succeeded."""
    started = time.perf_counter()
    done = subprocess.run(
        [AIRFLOW, "dags", "test", dag_id, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    elapsed = time.perf_counter() - started
    states = dict(_RUN_STATE.findall(done.stdout))
    if done.returncode != 0 or states.get(dag_id) != "success":
        tail = "\n".join(done.stdout.splitlines()[-30:])
        raise RuntimeError(f"airflow dags test {dag_id} {' '.join(args)} did not succeed:\n{tail}")
    return elapsed


def run_pair(env: dict[str, str], pair: tuple[str, str], day: dt.date) -> float:
    """Extract ``day`` then load it with one pair of DAGs; return the seconds both CLI runs took."""
    # The extract run whose interval is [day 06:00, next day 06:00) in the tenant's time zone pulls `day`.
    logical_date = f"{day + dt.timedelta(days=1)}T06:00:00+08:00"
    extract, load = pair
    return dags_test(env, extract, logical_date) + dags_test(env, load, "-c", json.dumps({"day": day.isoformat()}))


def loaded_block_rows(work: Path) -> int:
    """Rows in the warehouse's block table: proof that the example pair really loaded something."""
    with sqlite3.connect(work / "warehouse.db") as db:
        return db.execute("SELECT COUNT(*) FROM feishu_block_access").fetchone()[0]


def measure(work: Path, runs: int, say: Callable[[str], None]) -> EndToEnd:
    """Time ``runs`` extract + load pairs of ours and of the trivial DAGs, alternating which goes first."""
    env = prepare(work, say)
    with served_double(env=env) as served:
        use_double(env, served)
        ours, trivial = [], []
        today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
        for run in range(runs):
            day = today - dt.timedelta(days=2 + run)  # a finished day, a different one each run
            order = [(OURS, ours), (TRIVIAL, trivial)]
            for pair, times in order if run % 2 == 0 else reversed(order):
                times.append(run_pair(env, pair, day))
            say(f"6/6 end to end: run {run + 1}/{runs}: ours {ours[-1]:.2f}s, trivial {trivial[-1]:.2f}s")
    return EndToEnd(statistics.median(ours), statistics.median(trivial), ours, trivial, loaded_block_rows(work))
