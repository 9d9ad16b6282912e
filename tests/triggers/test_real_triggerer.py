"""The deferrable sensor under a real ``airflow triggerer``, beside another trigger (issue 21).

``dag.test()`` runs triggers in its own process; here a real deployment does: the scheduler, the triggerer
(and on Airflow 3 the API server) as separate processes, on a SQLite database in a folder of the test's
own, the connection in the metadata database, the Feishu double served from its command line. Every
server listens on 127.0.0.1; every process started is stopped by its session id, whatever happens.

The Feishu sensor defers while its day is not published; a ``DateTimeSensorAsync`` then defers beside it.
The triggerer must survive the Feishu trigger's checks (on Airflow 3.0 the trigger runner died 1-3 s after
taking it), fire the other trigger on time, and the Feishu sensor must succeed once the day is published.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from airflow_provider_feishu_workplace.testing import served_double
from tests.airflow_versions import AIRFLOW_VERSION, DATE_TIME_SENSOR_ASYNC, real_airflow_services

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
DAY = "2026-11-19"
FEISHU_DAG, TIMER_DAG = "real_triggerer_feishu", "real_triggerer_timer"
# The other sensor waits this long from when its task renders its target time (its moment, read back from
# the rendered fields) to the moment itself.
TIMER_SECONDS = 10
# How late the other trigger may fire (the triggerer's loop and the test's polling included).
ON_TIME = 5.0

FEISHU_DAG_SOURCE = f"""
import pendulum
from airflow.providers.common.compat.sdk import DAG
from airflow_provider_feishu_workplace.sensors.feishu_workplace import FeishuWorkplaceDataSensor

# deferrable is left to [operators] default_deferrable, as in the report of issue 21.
with DAG({FEISHU_DAG!r}, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False):
    FeishuWorkplaceDataSensor(task_id="wait", date={DAY!r}, poke_interval=1, timeout=300)
"""
TIMER_DAG_SOURCE = f"""
import pendulum
from airflow.providers.common.compat.sdk import DAG
from {DATE_TIME_SENSOR_ASYNC[0]} import {DATE_TIME_SENSOR_ASYNC[1]} as DateTimeSensorAsync

with DAG({TIMER_DAG!r}, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False):
    DateTimeSensorAsync(
        task_id="wait",
        target_time="{{{{ (macros.datetime.utcnow() + macros.timedelta(seconds={TIMER_SECONDS})).isoformat() }}}}",
    )
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def airflow_env(home: Path) -> tuple[dict[str, str], list[tuple[str, list[str]]]]:
    """This process's environment without its Airflow settings, plus the deployment's, and its services."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
    version_env, services = real_airflow_services(free_port())
    env.update(
        {
            # Airflow 2's SequentialExecutor runs each task as `airflow tasks run`, found on the PATH.
            "PATH": os.pathsep.join([str(Path(AIRFLOW).parent), env.get("PATH", "")]),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            # No log server is started; were one, it would get a port of its own.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            **version_env,
        }
    )
    return env, services


def airflow(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    done = subprocess.run([AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"airflow {' '.join(args)} failed:\n{(done.stdout + done.stderr)[-3000:]}"
    return done.stdout


def session_members(session_ids: set[int]) -> list[int]:
    """The processes in these sessions: what was started, and every task process it started in turn."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[3]) in session_ids:  # the fields after the name: state, ppid, pgrp, session
            members.append(int(entry.name))
    return members


@contextlib.contextmanager
def started(env: dict[str, str], services: list[tuple[str, list[str]]], logs: Path) -> Iterator[dict]:
    """Start each service as the leader of a session of its own; on exit, end those sessions' processes."""
    processes: dict[str, subprocess.Popen] = {}
    try:
        for name, args in services:
            with open(logs / f"{name}.log", "w", encoding="utf-8") as log:
                processes[name] = subprocess.Popen(
                    [AIRFLOW, *args], env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True,
                )  # fmt: skip
        yield processes
    finally:
        sessions = {process.pid for process in processes.values()}
        for process in processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        end = time.monotonic() + 5  # then SIGKILL: the deployment is thrown away
        for process in processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, end - time.monotonic()))
        for pid in session_members(sessions):  # task processes in groups of their own, or a stuck service
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for process in processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)


def wait_for(what: str, condition: Callable[[], object], timeout: float, logs: Path) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.2)
    pytest.fail(f"Airflow {AIRFLOW_VERSION}: {what} within {timeout:.0f} s\n{log_tails(logs)}")


def log_tails(logs: Path, lines: int = 25) -> str:
    parts = []
    for path in sorted(logs.glob("*.log")):
        tail = path.read_text(errors="replace").splitlines()[-lines:]
        parts.append(f"--- {path.name} (last {len(tail)} lines)\n" + "\n".join(tail))
    return "\n".join(parts)


class Metadata:
    """Read-only queries on the deployment's SQLite database."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def rows(self, sql: str, *args: object) -> list[tuple]:
        if not self.path.exists():
            return []
        with contextlib.closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)) as db:
            try:
                return db.execute(sql, args).fetchall()
            except sqlite3.OperationalError:  # a table not made yet
                return []

    def running_jobs(self) -> set[str]:
        return {job_type for (job_type,) in self.rows("SELECT job_type FROM job WHERE state = 'running'")}

    def task_state(self, dag_id: str) -> str | None:
        rows = self.rows("SELECT state FROM task_instance WHERE dag_id = ? AND task_id = 'wait'", dag_id)
        return rows[0][0] if rows else None

    def moment(self, dag_id: str) -> dt.datetime | None:
        """The other sensor's rendered target time (UTC)."""
        rows = self.rows("SELECT rendered_fields FROM rendered_task_instance_fields WHERE dag_id = ?", dag_id)
        if not rows:
            return None
        moment = dt.datetime.fromisoformat(json.loads(rows[0][0])["target_time"])
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)

    def run_state(self, dag_id: str) -> str | None:
        rows = self.rows("SELECT state FROM dag_run WHERE dag_id = ?", dag_id)
        return rows[0][0] if rows else None


def api_server_healthy(env: dict[str, str]) -> bool:
    if "AIRFLOW__API__BASE_URL" not in env:
        return True  # Airflow 2: no API server
    try:
        with urllib.request.urlopen(env["AIRFLOW__API__BASE_URL"] + "/api/v2/monitor/health", timeout=5) as answer:
            return answer.status == 200
    except OSError:
        return False


@pytest.mark.slow
def test_the_triggerer_survives_the_feishu_trigger_and_fires_the_one_beside_it(tmp_path):
    began = time.monotonic()
    home, logs = tmp_path / "airflow", tmp_path / "logs"
    (home / "dags").mkdir(parents=True)
    logs.mkdir()
    (home / "dags" / "feishu_wait.py").write_text(textwrap.dedent(FEISHU_DAG_SOURCE))
    (home / "dags" / "timer.py").write_text(textwrap.dedent(TIMER_DAG_SOURCE))
    importlib.import_module(DATE_TIME_SENSOR_ASYNC[0])  # the other sensor exists in this Airflow
    env, services = airflow_env(home)
    db = Metadata(home / "airflow.db")
    timings: dict[str, float] = {}

    with served_double(env=env) as served:
        served.publish_at(DAY, None)  # held back until the test publishes it
        airflow(env, "db", "migrate")
        # The connection lives in the metadata database: on Airflow 3 the triggerer asks its supervisor for it.
        setup = [
            subprocess.Popen([AIRFLOW, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for args in (
                ["connections", "add", "feishu_default", "--conn-json", served.connection()],
                ["dags", "reserialize"],
            )
        ]
        for process in setup:
            output = process.communicate(timeout=300)[0]
            assert process.returncode == 0, f"{process.args[1:3]} failed:\n{output[-3000:]}"
        timings["setup"] = time.monotonic() - began

        with started(env, services, logs) as processes:
            wait_for(
                "the scheduler, the triggerer (and API server) did not start",
                lambda: {"SchedulerJob", "TriggererJob"} <= db.running_jobs() and api_server_healthy(env),
                120,
                logs,
            )
            timings["services"] = time.monotonic() - began
            airflow(env, "dags", "trigger", FEISHU_DAG)

            # The worker's first check finds nothing and defers; the triggerer's checks follow, one a second.
            wait_for(
                "the Feishu sensor did not defer and get checked by the triggerer",
                lambda: db.task_state(FEISHU_DAG) == "deferred" and len(served.requests("workplace")) >= 3,
                120,
                logs,
            )
            timings["feishu deferred"] = time.monotonic() - began
            airflow(env, "dags", "trigger", TIMER_DAG)

            # Watch the other sensor: deferred before its moment, out of deferral (fired) on time.
            deferred_at = fired_at = fire_at = None
            checks = {}
            deadline = time.monotonic() + 120
            while fired_at is None and time.monotonic() < deadline:
                state = db.task_state(TIMER_DAG)
                if state == "deferred" and deferred_at is None and (moment := db.moment(TIMER_DAG)):
                    deferred_at, fire_at = dt.datetime.now(dt.UTC), moment
                    checks["deferred"] = len(served.requests("workplace"))
                elif deferred_at is not None and state != "deferred":
                    fired_at = dt.datetime.now(dt.UTC)
                    checks["fired"] = len(served.requests("workplace"))
                time.sleep(0.1)
            triggerer_alive = processes["triggerer"].poll() is None
            assert fired_at is not None, f"the other trigger did not fire\n{log_tails(logs)}"
            assert deferred_at < fire_at, f"the other sensor deferred after its moment {fire_at}\n{log_tails(logs)}"
            lateness = (fired_at - fire_at).total_seconds()
            assert -0.5 <= lateness <= ON_TIME, f"the other trigger fired {lateness:.1f} s late\n{log_tails(logs)}"
            assert triggerer_alive, f"the triggerer exited\n{log_tails(logs)}"
            timings["other fired"] = time.monotonic() - began

            served.publish_at(DAY, 0)  # published late: long after the Feishu sensor deferred
            wait_for(
                "both runs did not succeed",
                lambda: db.run_state(FEISHU_DAG) == "success" and db.run_state(TIMER_DAG) == "success",
                120,
                logs,
            )
            timings["feishu succeeded"] = time.monotonic() - began
            assert processes["triggerer"].poll() is None, f"the triggerer exited\n{log_tails(logs)}"
            triggerer_log = (logs / "triggerer.log").read_text(errors="replace")

    assert db.task_state(FEISHU_DAG) == "success"
    assert db.task_state(TIMER_DAG) == "success"
    # The Feishu trigger kept checking, a check a second, the whole time the other trigger waited.
    waited = (fired_at - deferred_at).total_seconds()
    assert checks["fired"] - checks["deferred"] >= waited / 2, (checks, waited)
    for sign_of_a_crash in ("has died", "different loop", "out of order"):
        assert sign_of_a_crash not in triggerer_log, triggerer_log[-3000:]
    print(f"Airflow {AIRFLOW_VERSION}: " + ", ".join(f"{name} at {seconds:.1f} s" for name, seconds in timings.items()))
