"""A real Airflow deployment for tests: the scheduler, the triggerer (and on Airflow 3 the API server) as
separate processes on a SQLite database in a folder of the test's own, the connection in the metadata
database, the Feishu double served from its command line.

Every server listens on 127.0.0.1; every process started is stopped by its session id, whatever happens.
Used by tests/triggers/test_real_triggerer.py and tests/test_endpoint_extension.py.
"""

from __future__ import annotations

import contextlib
import datetime as dt
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
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from airflow_provider_feishu_workplace.testing import ServedDouble, served_double
from tests.airflow_versions import AIRFLOW_VERSION, real_airflow_services
from tests.waiting import first_true

AIRFLOW = str(Path(sys.executable).with_name("airflow"))


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
    return first_true(condition, timeout) or pytest.fail(
        f"Airflow {AIRFLOW_VERSION}: {what} within {timeout:.0f} s\n{log_tails(logs)}"
    )


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


@dataclass
class Deployment:
    """A running deployment: its environment, services, metadata database, logs and served double."""

    env: dict[str, str]
    served: ServedDouble
    db: Metadata
    logs: Path
    processes: dict[str, subprocess.Popen]
    began: float
    timings: dict[str, float] = field(default_factory=dict)

    def mark(self, name: str) -> None:
        """Note how long after the start ``name`` happened (reported by :meth:`report`)."""
        self.timings[name] = time.monotonic() - self.began

    def report(self) -> str:
        return f"Airflow {AIRFLOW_VERSION}: " + ", ".join(f"{n} at {s:.1f} s" for n, s in self.timings.items())

    def wait_for(self, what: str, condition: Callable[[], object], timeout: float = 120) -> object:
        return wait_for(what, condition, timeout, self.logs)

    def triggerer_log(self) -> str:
        return (self.logs / "triggerer.log").read_text(errors="replace")


@contextlib.contextmanager
def real_deployment(
    tmp_path: Path, dag_files: dict[str, str], prepare_double: Callable[[ServedDouble], None] = lambda served: None
) -> Iterator[Deployment]:
    """Serve the double, set up a deployment parsing ``dag_files`` (file name: source), start its services.

    :param prepare_double: called with the served double before Airflow starts (hold days back, add
        endpoints).
    """
    began = time.monotonic()
    home, logs = tmp_path / "airflow", tmp_path / "logs"
    (home / "dags").mkdir(parents=True)
    logs.mkdir()
    for name, source in dag_files.items():
        (home / "dags" / name).write_text(textwrap.dedent(source))
    env, services = airflow_env(home)
    db = Metadata(home / "airflow.db")

    with served_double(env=env) as served:
        prepare_double(served)
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
        with started(env, services, logs) as processes:
            deployment = Deployment(env, served, db, logs, processes, began)
            deployment.mark("setup")
            deployment.wait_for(
                "the scheduler, the triggerer (and API server) did not start",
                lambda: {"SchedulerJob", "TriggererJob"} <= db.running_jobs() and api_server_healthy(env),
            )
            deployment.mark("services")
            yield deployment
