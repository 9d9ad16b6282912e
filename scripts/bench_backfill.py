"""The backfill figure: range mode (one task per data set) against daily runs, both under a real scheduler.

Airflow 3 only (``airflow api-server`` + ``airflow scheduler`` with the LocalExecutor, SQLite metadata
database, the example DAGs, the Feishu double served from its command line at its default 20
requests/second limit). Timed, each from the command that creates the runs to the last run's success:

- daily: ``airflow backfill create`` of the example extract DAG over N days: N scheduled-style runs
  (backfill runs with the daily data intervals), each a publication sensor and three one-day pulls;
- range N: one run of the example backfill DAG over the same N days (three tasks, one pass each);
- range year: one run of the backfill DAG over 365 days.

The load DAG stays paused: the figure is the extract's. Every part talks to 127.0.0.1 only.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from airflow_provider_feishu_workplace.testing import served_double

ROOT = Path(__file__).resolve().parent.parent
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
TIMEZONE = "Asia/Shanghai"
EXTRACT, BACKFILL = "feishu_workplace_extract", "feishu_workplace_backfill"


@dataclass
class Backfill:
    """Seconds each way took, and how many lake files each wrote."""

    days: int
    daily: float
    range_days: float
    range_year: float
    year_files: int

    @property
    def ratio(self) -> float:
        """How many times longer the daily runs took than the range run, on the same days."""
        return self.daily / self.range_days


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    """Send ``signum`` to the process group ``process`` leads (it was started in a session of its own)."""
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass


def _env(work: Path) -> dict[str, str]:
    # The Airflow 3 deployment's own settings (API server, LocalExecutor, shared secrets) are the tests'.
    sys.path.insert(0, str(ROOT))
    from tests.airflow_versions import real_airflow_services
    from tests.loopback import free_port

    deployment, _ = real_airflow_services(free_port())
    return {
        **os.environ,
        **deployment,
        "AIRFLOW_HOME": str(work / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(work / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "FEISHU_WORKPLACE_LAKE": f"file://{work / 'lake'}",
        "FEISHU_WORKPLACE_TIMEZONE": TIMEZONE,
        "AIRFLOW_CONN_FEISHU_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(work / "warehouse.db")}),
    }


def _airflow(env: dict[str, str], *args: str, timeout: float = 600) -> str:
    done = subprocess.run([AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"airflow {' '.join(args)} failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return done.stdout


def _runs(work: Path, dag_id: str) -> list[tuple[str, str]]:
    with sqlite3.connect(work / "airflow" / "airflow.db", timeout=30) as db:
        return db.execute("SELECT run_id, state FROM dag_run WHERE dag_id = ?", (dag_id,)).fetchall()


def _wait_for_runs(work: Path, dag_id: str, count: int, started: float, timeout: float = 1800) -> float:
    """Wait until ``count`` runs of ``dag_id`` succeeded; return the seconds since ``started``."""
    while time.perf_counter() - started < timeout:
        runs = _runs(work, dag_id)
        failed = [run_id for run_id, state in runs if state == "failed"]
        if failed:
            raise RuntimeError(f"{dag_id}: runs failed: {failed[:5]} (logs under {work / 'airflow' / 'logs'})")
        if len(runs) >= count and all(state == "success" for _, state in runs):
            return time.perf_counter() - started
        time.sleep(0.5)
    raise RuntimeError(f"{dag_id}: {count} runs did not succeed within {timeout:.0f} s")


def measure(work: Path, days: int, say: Callable[[str], None]) -> Backfill:
    """Run the three measurements under one scheduler; see the module's docstring."""
    shutil.rmtree(work, ignore_errors=True)
    (work / "dags").mkdir(parents=True)
    (work / "logs").mkdir()
    for source in (ROOT / "dags").glob("*.py"):
        shutil.copy(source, work / "dags" / source.name)
    env = _env(work)
    say("7/7 backfill: airflow db migrate, dags reserialize (not timed) ...")
    _airflow(env, "db", "migrate")
    _airflow(env, "dags", "reserialize")
    _airflow(env, "pools", "set", "feishu_workplace", "4", "the example DAGs' pool")  # else nothing is scheduled
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
    # Three days back: the scheduled run made on unpause (the latest 06:00 tick, before or after 06:00 today)
    # pulls a later day, so every backfill run below is a new one.
    last = today - dt.timedelta(days=3)
    first = last - dt.timedelta(days=days - 1)
    year_last = first - dt.timedelta(days=1)  # a year of other days: no file of the first parts is rewritten
    year_first = year_last - dt.timedelta(days=364)
    processes: list[subprocess.Popen] = []
    with served_double(env=env) as served:
        env["AIRFLOW_CONN_FEISHU_DEFAULT"] = served.connection()
        try:
            for name, args in (
                ("api-server", ["api-server", "--workers", "1"]),
                ("scheduler", ["scheduler", "--skip-serve-logs"]),
            ):
                log = open(work / "logs" / f"{name}.log", "w", encoding="utf-8")  # noqa: SIM115 - closed below
                processes.append(
                    subprocess.Popen(
                        [AIRFLOW, *args],
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,  # its own process group: stopped with its task processes below
                    )
                )
                log.close()
            for dag_id in (EXTRACT, BACKFILL):
                _airflow(env, "dags", "unpause", dag_id)
            # The extract is unpaused, so the scheduler makes its latest scheduled run: wait it out, untimed.
            _wait_for_runs(work, EXTRACT, 1, time.perf_counter(), timeout=600)
            before = len(_runs(work, EXTRACT))

            say(f"7/7 backfill: {days} daily runs of the extract (airflow backfill create) ...")
            started = time.perf_counter()
            # From and to name 06:00 of each day pulled: a logical date (the start of a run's data interval), or
            # with partitions a tick, whose backfill run is keyed by the tick's own day (docs/partitions.md).
            window = ["--from-date", f"{first}T06:00:00+08:00", "--to-date", f"{last}T06:00:00+08:00"]
            _airflow(env, "backfill", "create", "--dag-id", EXTRACT, *window, "--max-active-runs", "3")
            if len(_runs(work, EXTRACT)) != before + days:
                raise RuntimeError(
                    f"airflow backfill create made {len(_runs(work, EXTRACT)) - before} runs, not {days}"
                )
            daily = _wait_for_runs(work, EXTRACT, before + days, started, timeout=900)

            def range_run(from_day: dt.date, to_day: dt.date) -> float:
                runs_before = len(_runs(work, BACKFILL))
                conf = json.dumps({"from_date": from_day.isoformat(), "to_date": to_day.isoformat()})
                started = time.perf_counter()
                _airflow(env, "dags", "trigger", BACKFILL, "--conf", conf)
                return _wait_for_runs(work, BACKFILL, runs_before + 1, started)

            say(f"7/7 backfill: range mode over the same {days} days ...")
            range_days = range_run(first, last)
            say("7/7 backfill: range mode over 365 days ...")
            range_year = range_run(year_first, year_last)
        finally:
            for process in processes:
                _signal_group(process, signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    pass
                _signal_group(process, signal.SIGKILL)  # whatever of its group outlived it

    lake = work / "lake"
    year = {(year_first + dt.timedelta(days=n)).isoformat() for n in range(365)}
    year_files = sum(
        1
        for dataset in ("workplace", "custom_workplace", "block")
        for path in (lake / f"{dataset}_access").glob("dt=*/part.jsonl")
        if path.parent.name.removeprefix("dt=") in year
    )
    shutil.rmtree(work)  # kept when a step failed, for its logs
    return Backfill(days, daily, range_days, range_year, year_files)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` stops what was started
    days = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    result = measure(ROOT / ".bench" / "backfill", days, lambda message: print(message, file=sys.stderr, flush=True))
    print(
        f"range mode, a year x 3 data sets: {result.range_year:.1f} s ({result.year_files} files; goal < 30 s)\n"
        f"{days} days: range mode {result.range_days:.1f} s, {days} daily runs {result.daily:.1f} s, "
        f"ratio {result.ratio:.1f}x"
    )
