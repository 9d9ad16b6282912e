"""The example pipeline for real (``make e2e``): Airflow 3 with PostgreSQL, an API server, scheduler,
DAG processor, triggerer and two Celery workers on Redis, pulling from the Feishu double over loopback.

The tests are stages of one story and run in order on one stack (``tests/e2e/conftest.py``):
README's backfill command for five days, scheduler-triggered loads, a clear and rerun of everything
with overlapping manual runs, a worker SIGKILLed in the middle of a pull, then ``make stack-stop``.
After each stage every day in the lake must be in the warehouse, equal to the double's data, and the
double must have answered no request with 429.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
import time
from collections import Counter

import pendulum
import pytest

from tests.e2e import live
from tests.e2e.conftest import REPORT, make_stack_stop

pytestmark = pytest.mark.timeout(900)

TIMEZONE = os.environ.get("FEISHU_WORKPLACE_TIMEZONE", "Asia/Shanghai")
TODAY = pendulum.now(TIMEZONE).date()
BACKFILL_DAYS = live.days_before(TODAY, 14, 10)  # five complete days, well in the past
KILL_DAY = live.days_before(TODAY, 8, 8)[0]
DEFERRED_DAY = live.days_before(TODAY, 20, 20)[0]  # held back: the example's sensor defers (issue 21)
README = (live.ROOT / "README.md").read_text()


class Story:
    """What the stages hand on to each other and to the report."""

    double_data: live.DoubleData | None = None
    stage_seconds: dict[str, float] = {}
    rate_limited = Counter()
    requests = Counter()
    peak: tuple[int, str | None] = (0, None)
    pull_intervals: list[tuple[dt.datetime, dt.datetime]] = []
    block_intervals: list[tuple[dt.datetime, dt.datetime]] = []
    block_pulls_at_once = 0
    recovery_seconds: float | None = None


def _reader(live_stack) -> live.DoubleData:
    if Story.double_data is None:
        Story.double_data = live.DoubleData(live_stack)
    return Story.double_data


def _listeners() -> list[tuple[str, int, set[int]]]:
    """TCP listening sockets: (address, port, pids), from ``ss``."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        fields = line.split()
        address, _, port = fields[3].rpartition(":")
        found.append((address.strip("[]"), int(port), {int(pid) for pid in re.findall(r"pid=(\d+)", line)}))
    return found


def _check_loopback_only(live_stack) -> int:
    ours = set(live.stack.stack_processes(live_stack.state))
    listening = [(address, port) for address, port, pids in _listeners() if pids & ours]
    beyond = [f"{address}:{port}" for address, port in listening if address not in ("127.0.0.1", "::1")]
    assert not beyond, f"processes of the stack listen beyond loopback: {beyond}"
    missing = set(live_stack.state["ports"].values()) - {port for _, port in listening}
    assert not missing, f"the stack's ports {missing} are not listening"
    return len(listening)


def _begin_stage(live_stack) -> float:
    """Wait for a quiet stack, forget the double's request log, and return the stage's start time."""
    live_stack.wait_quiet(timeout=300, settle=5)
    live_stack.double.clear_requests()
    return time.time()


def _end_stage(live_stack, name: str, began: float) -> None:
    """Wait until every run (loads included) is done, then check the double's log and the warehouse."""
    live_stack.wait_quiet(timeout=480)
    Story.stage_seconds[name] = time.time() - began
    stats = live_stack.double.stats()
    requests = live_stack.double.requests(limit=10_000)
    for endpoint, statuses in stats["by_endpoint"].items():
        Story.requests[endpoint] += sum(statuses.values())
        Story.rate_limited[endpoint] += statuses.get("429", 0)
    Story.peak = max(Story.peak, live.peak_rate(requests), key=lambda p: p[0])
    Story.block_pulls_at_once = max(Story.block_pulls_at_once, live.concurrent_pulls(requests, "block"))
    assert not +Story.rate_limited, f"{name}: the double answered 429: {dict(Story.rate_limited)}"

    def warehouse_matches():
        problems = live.compare_warehouse(live_stack, _reader(live_stack))["problems"]
        assert not problems, problems
        return True

    # A day whose data sets finished far apart is loaded by the load's next sweep (every 2 minutes here).
    live.wait_for(f"{name}: every lake day in the warehouse, equal to the double's", warehouse_matches, 200, 10)


def _days_written_since(live_stack, began: float) -> dict[str, set[str]]:
    lake = live_stack.base / "lake"
    written = {}
    for dataset in live.DATASETS:
        written[dataset] = {
            path.parent.name[3:]
            for path in (lake / f"{dataset}_access").glob("dt=*/*")
            if not path.name.startswith(".") and path.stat().st_mtime >= began
        }
    return written


def _pulls_since(live_stack, began: float) -> list[dict]:
    since = dt.datetime.fromtimestamp(began, dt.UTC)
    return [
        ti
        for ti in live_stack.task_instances(live.EXTRACT)
        if ti["task_id"] in live.PULL_TASKS and ti["start_date"] and ti["start_date"] >= since and ti["end_date"]
    ]


def _record_pulls(live_stack, began: float) -> list[dict]:
    pulls = _pulls_since(live_stack, began)
    Story.pull_intervals += [(ti["start_date"], ti["end_date"]) for ti in pulls]
    Story.block_intervals += [(ti["start_date"], ti["end_date"]) for ti in pulls if ti["task_id"] == "block"]
    return pulls


def test_every_server_of_the_stack_listens_on_loopback_only(live_stack):
    count = _check_loopback_only(live_stack)
    REPORT.append(f"listening sockets of the stack: {count}, all on 127.0.0.1")


def test_readme_backfill_runs_five_days_through_both_workers_and_the_scheduler_loads_them(live_stack):
    began = _begin_stage(live_stack)
    commands = live.readme_backfill_commands(README)
    assert commands, "README shows no `airflow backfill create ... --from-date ... --to-date ...` command"
    for command in commands:
        live_stack.shell(live.with_days(command, BACKFILL_DAYS[0], BACKFILL_DAYS[-1]))

    def backfills_completed():
        rows = live_stack.query("SELECT dag_id, completed_at FROM backfill")
        assert rows and all(completed for _, completed in rows), f"backfills not completed yet: {rows}"
        return rows

    backfills = live.wait_for("README's backfills", backfills_completed, timeout=420)
    runs = [r for r in live_stack.runs(live.EXTRACT) if r["run_type"] == "backfill"]
    assert [r["state"] for r in runs] == ["success"] * len(runs), [(r["run_id"], r["state"]) for r in runs]
    _end_stage(live_stack, "backfill", began)

    written = _days_written_since(live_stack, began)
    for dataset, days in written.items():
        assert days == set(BACKFILL_DAYS), (
            f"README's backfill for {BACKFILL_DAYS[0]}..{BACKFILL_DAYS[-1]} wrote {dataset} days {sorted(days)}: "
            f"missing {sorted(set(BACKFILL_DAYS) - days)}, extra {sorted(days - set(BACKFILL_DAYS))} "
            f"(dates without a time and offset are UTC midnight: {TIMEZONE} days start earlier)"
        )
    hosts = Counter(ti["hostname"] for ti in live_stack.task_instances(live.EXTRACT) if ti["state"] == "success")
    assert set(live.stack.WORKERS) <= set(hosts), f"extract tasks ran on {dict(hosts)}, not on both workers"
    if live.LOAD in live_stack.dag_ids():
        loads = live_stack.runs(live.LOAD)
        assert loads and all(r["run_type"] != "manual" for r in loads), [(r["run_id"], r["run_type"]) for r in loads]
        assert all(r["state"] == "success" for r in loads), [(r["run_id"], r["state"]) for r in loads]
    _record_pulls(live_stack, began)
    REPORT.append(
        f"backfill: {len(commands)} README command(s) ({len(backfills)} backfills) for "
        f"{BACKFILL_DAYS[0]}..{BACKFILL_DAYS[-1]}: {len(runs)} extract runs, each on its own day"
    )


def test_clear_and_rerun_all_with_overlapping_manual_runs_leaves_no_day_missing_or_doubled(live_stack):
    began = _begin_stage(live_stack)
    first, last = BACKFILL_DAYS[0], BACKFILL_DAYS[-1]
    offset = pendulum.now(TIMEZONE).format("Z")
    live_stack.airflow(
        "tasks", "clear", live.EXTRACT, "--start-date", f"{first}T00:00:00{offset}", "--end-date",
        f"{last}T23:59:59{offset}", "--yes",
    )  # fmt: skip
    # Manual runs of the same days while the cleared runs rerun, one day twice at once.
    manual = [*BACKFILL_DAYS, BACKFILL_DAYS[2]]
    stamp = int(began)
    run_ids = [
        live_stack.trigger(live.EXTRACT, {"day": day}, f"e2e_rerun_{day}_{n}_{stamp}") for n, day in enumerate(manual)
    ]
    _end_stage(live_stack, "clear + rerun", began)

    states = {r["run_id"]: r["state"] for r in live_stack.runs(live.EXTRACT)}
    assert all(states[run_id] == "success" for run_id in run_ids), {run_id: states[run_id] for run_id in run_ids}
    assert all(state == "success" for state in states.values()), states
    written = _days_written_since(live_stack, began)
    for dataset, days in written.items():
        assert days == set(BACKFILL_DAYS), f"the reruns wrote {dataset} days {sorted(days)}, not {BACKFILL_DAYS}"
    pulls = _record_pulls(live_stack, began)
    overlap = live.max_overlap(Story.pull_intervals)
    assert overlap >= 4, f"at most {overlap} pulls ran at once: the check of the app-wide rate limit needs 4"
    REPORT.append(
        f"clear + rerun: {len(BACKFILL_DAYS)} runs cleared and rerun, {len(run_ids)} manual runs beside them "
        f"({BACKFILL_DAYS[2]} twice at once), {len(pulls)} pulls"
    )


def test_a_worker_killed_mid_pull_costs_the_run_minutes_not_the_data(live_stack):
    began = _begin_stage(live_stack)
    # The block pull's first page answers after 25 s: the task is surely in the middle of its pull.
    live_stack.double.inject("slow", endpoint="block", times=1, delay=25)
    run_id = live_stack.trigger(live.EXTRACT, {"day": KILL_DAY}, f"e2e_kill_{KILL_DAY}_{int(began)}")

    def pulling():
        (ti,) = [
            t for t in live_stack.task_instances(live.EXTRACT) if t["run_id"] == run_id and t["task_id"] == "block"
        ]
        asked = [r for r in live_stack.double.requests("block") if r["query"].get("from_date") == KILL_DAY]
        assert ti["state"] == "running" and asked, f"block is {ti['state']}, {len(asked)} requests for {KILL_DAY}"
        return ti

    ti = live.wait_for("the block pull in progress", pulling, timeout=240, interval=0.5)
    victim = ti["hostname"]
    assert victim in live.stack.WORKERS, ti
    live.stack.kill_session(live_stack.state, victim)
    killed_at = time.monotonic()

    def run_finished():
        (run,) = [r for r in live_stack.runs(live.EXTRACT) if r["run_id"] == run_id]
        assert run["state"] in live.FINISHED, f"the run is {run['state']}"
        return run

    run = live.wait_for("the run after the worker's death", run_finished, timeout=600, interval=2)
    Story.recovery_seconds = time.monotonic() - killed_at
    assert run["state"] == "success", run
    (block,) = [t for t in live_stack.task_instances(live.EXTRACT) if t["run_id"] == run_id and t["task_id"] == "block"]
    assert block["try_number"] >= 2, block
    # The worker comes back, as a supervisor would restart it.
    subprocess.run(
        [
            sys.executable,
            str(live.ROOT / "scripts/stack/stack.py"),
            "--dir",
            str(live_stack.base),
            "start-worker",
            victim,
        ],
        env=live.clean_environment(),
        check=True,
        capture_output=True,
        timeout=300,
    )
    live_stack.reload()
    _end_stage(live_stack, "worker kill", began)
    assert {day for days in live_stack.lake_days().values() for day in days} >= {KILL_DAY}
    REPORT.append(
        f"worker kill: SIGKILLed {victim}'s whole session during block {KILL_DAY} (try 1); run {run['state']} "
        f"{Story.recovery_seconds:.0f} s later on try {block['try_number']} ({block['hostname']}); {victim} restarted"
    )


def test_the_example_sensor_waits_deferred_in_the_triggerer(live_stack):
    from tests.e2e.test_sensor_deferred_live import sensor_deferred_stage

    began = _begin_stage(live_stack)
    REPORT.append(sensor_deferred_stage(live_stack, DEFERRED_DAY))
    _end_stage(live_stack, "deferred sensor", began)


def test_report_and_stack_stop_leaves_no_process_and_no_port(live_stack):
    _check_loopback_only(live_stack)
    _report(live_stack)
    state = live_stack.state
    result = make_stack_stop(live_stack.base)
    assert result.returncode == 0, result.stdout + result.stderr
    left = live.stack.stack_processes(state)
    assert not left, f"processes of the stack still run after make stack-stop: {left}"
    ports = set(state["ports"].values())
    still_open = {port for _, port, _ in _listeners() if port in ports} | {p for p in ports if live.stack.port_open(p)}
    assert not still_open, f"ports of the stack still open after make stack-stop: {still_open}"
    said = [line for line in result.stdout.splitlines() if line.startswith("stack: ")]
    REPORT.append(f"make stack-stop: {'; '.join(said)}; no process and no port left")


def _report(live_stack) -> None:
    runs = Counter()
    durations: dict[str, list[float]] = {}
    for dag_id in (live.EXTRACT, live.LOAD):
        for run in live_stack.runs(dag_id):
            runs[(dag_id.removeprefix("feishu_workplace_"), run["run_type"], run["state"])] += 1
            if run["start_date"] and run["end_date"]:
                durations.setdefault(dag_id.removeprefix("feishu_workplace_"), []).append(
                    (run["end_date"] - run["start_date"]).total_seconds()
                )
    REPORT.append("runs: " + ", ".join(f"{dag} {kind} {state}: {n}" for (dag, kind, state), n in sorted(runs.items())))
    REPORT.append(
        "run durations: "
        + ", ".join(f"{dag} mean {sum(d) / len(d):.0f} s, max {max(d):.0f} s" for dag, d in sorted(durations.items()))
    )
    REPORT.append(
        "stage durations: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in Story.stage_seconds.items())
    )
    tries = Counter(ti["hostname"] for ti in live_stack.task_instances() if ti["hostname"])
    REPORT.append("task instances per worker: " + ", ".join(f"{host} {n}" for host, n in sorted(tries.items())))
    counts = live_stack.warehouse_counts()
    REPORT.append(
        "warehouse: "
        + ", ".join(f"{table} {rows} rows / {days} days" for table, (rows, _, days) in counts.items())
        + ", every lake day equal to the double's data, no duplicate key"
    )
    peak, endpoint = Story.peak
    REPORT.append(
        f"double: {sum(Story.requests.values())} requests, {sum(Story.rate_limited.values())} x 429; "
        f"at most {live.max_overlap(Story.pull_intervals)} pulls at once "
        f"({live.max_overlap(Story.block_intervals)} of them of blocks; {Story.block_pulls_at_once} block pulls "
        "sending at one instant); "
        f"peak {peak} requests in one second ({endpoint})"
    )
