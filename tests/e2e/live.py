"""Driving a running ``make stack`` from the end-to-end test: its Airflow (CLI, REST API, metadata
database), its warehouse, its lake and its Feishu double, read from outside like an operator would."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts" / "stack"))
sys.path.insert(0, str(ROOT / "dags"))

import stack  # noqa: E402  scripts/stack/stack.py

EXTRACT = "feishu_workplace_extract"
LOAD = "feishu_workplace_load"
PULL_TASKS = ("workplace", "custom_workplace", "block")
DATASETS = PULL_TASKS
FINISHED = ("success", "failed")


def clean_environment() -> dict[str, str]:
    """This process's environment without the test session's Airflow settings (tests/conftest.py sets an
    AIRFLOW_HOME and unit-test mode of its own): the stack must run with exactly its own configuration."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", stack.MARKER))}


def wait_for(what: str, check: Callable[[], Any], timeout: float, interval: float = 2.0) -> Any:
    """Poll ``check()`` until it returns something truthy (returned); raise naming ``what`` on timeout.

    ``check`` may raise ``AssertionError`` to say why it is not done yet: the last one is in the error.
    """
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            result = check()
            if result:
                return result
        except AssertionError as error:
            last = error
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s" + (f": {last}" if last else ""))
        time.sleep(interval)


class LiveStack:
    """A running stack (its folder and ``stack.json``), with the views the end-to-end test needs."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.state = stack.load_state(base)
        self.env = {**clean_environment(), **stack.airflow_env(base, self.state)}
        self.api = f"http://127.0.0.1:{self.state['ports']['api_server']}"
        self._token: str | None = None
        from airflow_provider_feishu_workplace.testing import ServedDouble

        self.double = ServedDouble(**self.state["double"]["info"])

    def reload(self) -> None:
        self.state = stack.load_state(self.base)

    def control(self, method: str, path: str, body: dict | None = None) -> dict:
        """Call the served double's control API (``POST /events``, ``POST /tenants``, ...)."""
        return self.double._control(method, path, body)

    # Airflow, as its users drive it

    def airflow(self, *args: str, timeout: float = 300) -> str:
        """Run ``airflow ARGS`` against the stack; return its output, raise with it on failure."""
        return self.shell(" ".join(_shell_quote(arg) for arg in ("airflow", *args)), timeout=timeout)

    def shell(self, command: str, timeout: float = 300) -> str:
        """Run a shell command line (as a user types it from README) with the stack's environment."""
        path = f"{Path(sys.executable).parent}{os.pathsep}{self.env.get('PATH', '')}"
        result = subprocess.run(
            ["bash", "-c", command], env={**self.env, "PATH": path}, capture_output=True, text=True, timeout=timeout
        )
        if result.returncode:
            raise AssertionError(f"`{command}` failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def rest(self, method: str, path: str, body: dict | None = None) -> dict:
        """Call the stack's REST API (``/api/v2/...``) as the local admin."""
        if self._token is None:
            # simple_auth_manager_all_admins: the API hands out an admin token without a password.
            with urllib.request.urlopen(f"{self.api}/auth/token", timeout=30) as answer:
                self._token = json.loads(answer.read())["access_token"]
        request = urllib.request.Request(
            f"{self.api}{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.loads(answer.read())

    def trigger(self, dag_id: str, conf: dict, run_id: str) -> str:
        """A manual run, as the UI's "Trigger" button makes it."""
        return self.rest(
            "POST", f"/api/v2/dags/{dag_id}/dagRuns", {"dag_run_id": run_id, "logical_date": None, "conf": conf}
        )["dag_run_id"]

    # The metadata database

    def query(self, sql: str, params: Iterable = (), database: str = "airflow") -> list[tuple]:
        import psycopg2

        connection = psycopg2.connect(
            host="127.0.0.1",
            port=self.state["ports"]["postgres"],
            user=stack.PG_USER,
            password=self.state["postgres"]["password"],
            dbname=database,
        )
        try:
            with connection, connection.cursor() as cursor:
                cursor.execute(sql, tuple(params))
                return cursor.fetchall() if cursor.description else []
        finally:
            connection.close()

    def runs(self, dag_id: str) -> list[dict]:
        rows = self.query(
            "SELECT run_id, run_type, state, start_date, end_date, conf FROM dag_run WHERE dag_id = %s ORDER BY id",
            (dag_id,),
        )
        names = ("run_id", "run_type", "state", "start_date", "end_date", "conf")
        return [dict(zip(names, row, strict=True)) for row in rows]

    def dag_ids(self) -> set[str]:
        return {row[0] for row in self.query("SELECT dag_id FROM dag WHERE NOT is_stale")}

    def task_instances(self, dag_id: str | None = None) -> list[dict]:
        names = ("dag_id", "run_id", "task_id", "state", "hostname", "try_number", "start_date", "end_date")
        sql = f"SELECT {', '.join(names)} FROM task_instance"
        rows = self.query(sql + " WHERE dag_id = %s" if dag_id else sql, (dag_id,) if dag_id else ())
        return [dict(zip(names, row, strict=True)) for row in rows]

    def active_runs(self) -> list[tuple]:
        return self.query("SELECT dag_id, run_id, state FROM dag_run WHERE state IN ('queued', 'running')")

    def wait_quiet(self, timeout: float, settle: float = 20.0) -> None:
        """Wait until no run is queued or running, and none starts for ``settle`` seconds (loads are
        created a little after the extract's events)."""
        quiet_since = None

        def quiet() -> bool:
            nonlocal quiet_since
            active = self.active_runs()
            if active:
                quiet_since = None
                raise AssertionError(f"still active: {active[:6]}")
            quiet_since = quiet_since or time.monotonic()
            return time.monotonic() - quiet_since >= settle

        wait_for("no queued or running DAG run", quiet, timeout, interval=2)

    # The lake and the warehouse

    def lake_days(self) -> dict[str, set[str]]:
        """The days the lake holds, per data set (``<lake>/<dataset>_access/dt=<day>/``)."""
        lake = self.base / "lake"
        days: dict[str, set[str]] = {}
        for dataset in DATASETS:
            folders = (lake / f"{dataset}_access").glob("dt=*")
            days[dataset] = {
                f.name[3:] for f in folders if any(p.is_file() and not p.name.startswith(".") for p in f.iterdir())
            }
        return days

    def warehouse_rows(self, dataset: str, day: str) -> list[tuple]:
        from feishu_workplace_tables import TABLES

        table = TABLES[dataset]
        columns = ", ".join(name for name, _ in table.columns)
        rows = self.query(f"SELECT {columns} FROM {table.name} WHERE date = %s", (day,), database="warehouse")
        return sorted(tuple(str(value) for value in row) for row in rows)

    def warehouse_counts(self) -> dict[str, tuple[int, int, int]]:
        """Per table: (rows, distinct keys, distinct days)."""
        from feishu_workplace_tables import TABLES

        counts = {}
        for table in TABLES.values():
            key = ", ".join(table.key)
            ((rows, keys, days),) = self.query(
                f"SELECT count(*), (SELECT count(*) FROM (SELECT DISTINCT {key} FROM {table.name}) k),"
                f" count(DISTINCT date) FROM {table.name}",
                database="warehouse",
            )
            counts[table.name] = (rows, keys, days)
        return counts


class DoubleData:
    """The rows the double serves for a data set and day, read through the provider's hook (cached: the
    double's data for a day never changes). Reads as the double's *store* app, whose rate-limit bucket
    is its own, so that checking never takes requests from the pipeline's app."""

    CONN_ID = "feishu_e2e_reader"

    def __init__(self, live: LiveStack) -> None:
        os.environ["AIRFLOW_CONN_" + self.CONN_ID.upper()] = live.double.connection(app_type="store")
        self._cache: dict[tuple[str, str], list[tuple]] = {}

    def rows(self, dataset: str, day: str) -> list[tuple]:
        if (dataset, day) not in self._cache:
            from feishu_workplace_tables import TABLES

            from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook

            hook = FeishuWorkplaceHook(self.CONN_ID)
            try:
                items = list(hook.iter_access_data(dataset, day, day))
            finally:
                hook.close()
            self._cache[(dataset, day)] = sorted(tuple(str(v) for v in TABLES[dataset].row(item)) for item in items)
        return self._cache[(dataset, day)]


def compare_warehouse(live: LiveStack, double: DoubleData) -> dict[str, Any]:
    """Every lake day of every data set in the warehouse, equal to the double's data: the mismatches."""
    problems = []
    checked = Counter()
    for dataset, days in live.lake_days().items():
        for day in sorted(days):
            expected = double.rows(dataset, day)
            actual = live.warehouse_rows(dataset, day)
            if not expected:
                problems.append(f"{dataset} {day}: the double has no data for it")
            elif actual != expected:
                missing, extra = len(set(expected) - set(actual)), len(set(actual) - set(expected))
                what = "not in the warehouse" if not actual else f"{missing} rows missing, {extra} rows unexpected"
                problems.append(f"{dataset} {day}: {what}")
            checked[dataset] += 1
    for table, (rows, keys, _) in live.warehouse_counts().items():
        if rows != keys:
            problems.append(f"{table}: {rows - keys} duplicate rows")
    return {"problems": problems, "checked": dict(checked)}


def days_before(today: dt.date, first: int, last: int) -> list[str]:
    """Days ``today - first`` .. ``today - last`` (first > last), oldest first."""
    return [(today - dt.timedelta(days=n)).isoformat() for n in range(first, last - 1, -1)]


def readme_backfill_commands(readme: str) -> list[str]:
    """The ``airflow backfill create`` command lines README shows (in code spans or code blocks)."""
    commands = []
    readme = re.sub(r"\\\n\s*", " ", readme)  # shell line continuations
    for match in re.finditer(r"airflow backfill create[^`\n]*", readme):
        line = match.group(0).split(" #")[0].rstrip().rstrip("\\").rstrip()
        if "--from-date" in line and "--to-date" in line and line not in commands:
            commands.append(line)
    return commands


def with_days(command: str, first_day: str, last_day: str) -> str:
    """README's command for another range: the calendar dates replaced, times and offsets kept as written."""
    for option, day in (("--from-date", first_day), ("--to-date", last_day)):
        command, count = re.subn(rf"({option}[ =]['\"]?)\d{{4}}-\d{{2}}-\d{{2}}", rf"\g<1>{day}", command)
        assert count == 1, f"README's backfill command has no plain {option} date to replace: {command}"
    return command


def max_overlap(intervals: Iterable[tuple[dt.datetime, dt.datetime]]) -> int:
    """The most intervals open at one instant."""
    events = sorted(
        [(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals], key=lambda e: (e[0], e[1])
    )
    best = current = 0
    for _, step in events:
        current += step
        best = max(best, current)
    return best


def concurrent_pulls(requests: list[dict], endpoint: str) -> int:
    """The most pulls of ``endpoint`` that were sending requests at one instant, from the double's log:
    a pull is a run of requests for one ``from_date`` with no gap over 1.5 s between them."""
    by_day: dict[str, list[float]] = {}
    for request in requests:
        if request.get("endpoint") == endpoint:
            by_day.setdefault(request["query"].get("from_date", "?"), []).append(request["received_at"])
    intervals = []
    for times in by_day.values():
        times.sort()
        start = previous = times[0]
        for moment in times[1:]:
            if moment - previous > 1.5:
                intervals.append((start, previous))
                start = moment
            previous = moment
        intervals.append((start, previous))
    return max_overlap(intervals)


def peak_rate(requests: list[dict]) -> tuple[int, str | None]:
    """The most requests one endpoint received within any one second, and that endpoint."""
    best, best_endpoint = 0, None
    by_endpoint: dict[str, list[float]] = {}
    for request in requests:
        by_endpoint.setdefault(request.get("endpoint") or "?", []).append(request["received_at"])
    for endpoint, times in by_endpoint.items():
        times.sort()
        start = 0
        for end in range(len(times)):
            while times[end] - times[start] >= 1.0:
                start += 1
            if end - start + 1 > best:
                best, best_endpoint = end - start + 1, endpoint
    return best, best_endpoint


def _shell_quote(text: str) -> str:
    return text if re.fullmatch(r"[\w@%+=:,./-]+", text) else "'" + text.replace("'", "'\"'\"'") + "'"
