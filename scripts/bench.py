"""Benchmarks of the provider: nine figures, each next to its goal, printed as one table.

Run by ``make bench`` (a few minutes on 2 cores; the pacing figure alone takes 20 s by design).
Progress goes to stderr, the machine line and the table to stdout (Markdown, ready for BENCHMARKS.md).
Every comparison runs side by side in the same run, interleaved, so machine noise hits both sides.
Everything talks to 127.0.0.1 only: the Feishu double, in this process or served from its command
line in a subprocess. Scratch files live under ``.bench/`` (removed by ``make clean``).

1. DAG parse cost: extra import time of our operators module on top of ``import airflow.sdk``.
2. Requests per job: token and search calls for 1 and 365 days against the minimum.
3. Client overhead: 2,000 pages through our hook, a hand-written requests loop and lark-oapi.
4. Pacing: 400 pages against the double's 20 requests/second limit.
5. Memory: peak RSS of the operator writing 200,000 items against writing 2,000, as JSON Lines and as
   Parquet (row groups written while paging).
6. End to end: ``airflow dags test`` of the example extract + load DAGs against a do-nothing pair.
7. Backfill: a year x 3 data sets in range mode under a real scheduler, and range mode against daily
   runs on the same days (scripts/bench_backfill.py; Airflow 3 only).
8. Waiting: 10, 100 and 1,000 deferred Feishu sensors in one triggerer beside as many TimeDeltaTriggers,
   all for one day and for as many days (scripts/bench_waiting.py; its own table follows the main one).
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from airflow_provider_feishu_workplace.testing import served_double

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".bench"
SCRIPTS = Path(__file__).resolve().parent

TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"
BLOCK_PATH = "/open-apis/workplace/v1/workplace_block_access_data/search"

IMPORT_RUNS = 7
OVERHEAD_ROUNDS = 5
END_TO_END_RUNS = 3
BACKFILL_DAYS = 30

# The child of the parse-cost figure: the import timed in-process, after `import airflow.sdk`.
IMPORT_CHILD = """\
import importlib, sys, time
import airflow.sdk
started = time.perf_counter()
importlib.import_module(sys.argv[1])
print((time.perf_counter() - started) * 1000)
"""


def say(message: str) -> None:
    """Print a progress line to stderr."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


@dataclass
class Figure:
    """One line of the table: what was measured, the goal, and whether it is met."""

    name: str
    measured: str
    goal: str
    met: bool


# Set-up


def configure_environment() -> None:
    """Give Airflow a scratch home under .bench/ before anything imports it; keep its logs quiet."""
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir()
    os.environ.update(
        {
            "AIRFLOW_HOME": str(WORK / "airflow"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            # So that children (the double's CLI, the memory child) import this checkout.
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
    )


def machine() -> str:
    """One line naming the machine, the versions and the date of the run."""
    from importlib.metadata import version

    cpu = "unknown CPU"
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    revision = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return (
        f"nproc {len(os.sched_getaffinity(0))}, {cpu}, Python {platform.python_version()}, "
        f"Airflow {version('apache-airflow')}, lark-oapi {version('lark-oapi')}, "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, revision {revision or 'unknown'}"
    )


def use_connection(double) -> None:
    """Point the ``feishu_default`` connection of this process at a double (in-process or served)."""
    os.environ["AIRFLOW_CONN_FEISHU_DEFAULT"] = double.connection()


def days_from(first: dt.date, count: int) -> tuple[str, str]:
    """The first and last day of ``count`` days starting at ``first``, as ``YYYY-MM-DD``."""
    return first.isoformat(), (first + dt.timedelta(days=count - 1)).isoformat()


# The double's own latency


def round_trip_ms(url: str, app_id: str, app_secret: str, times: int = 500) -> float:
    """Median milliseconds of a small keep-alive round trip (a token request) to the double."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    body = json.dumps({"app_id": app_id, "app_secret": app_secret})
    headers = {"Content-Type": "application/json"}
    samples = []
    try:
        for attempt in range(times + 20):  # the first 20 warm up the connection
            started = time.perf_counter()
            connection.request("POST", TOKEN_PATH, body=body, headers=headers)
            connection.getresponse().read()
            if attempt >= 20:
                samples.append((time.perf_counter() - started) * 1000)
    finally:
        connection.close()
    return statistics.median(samples)


def double_latency() -> str:
    """Check that the double adds no latency: a small round trip, in-process and out of process."""
    from airflow_provider_feishu_workplace.testing import FeishuDouble

    say("double round trip ...")
    with FeishuDouble(rate_limit_per_second=None) as double:
        in_process = round_trip_ms(double.url, double.app_id, double.app_secret)
    with served_double("--no-rate-limit") as served:
        out_of_process = round_trip_ms(served.url, served.app_id, served.app_secret)
    verdict = "sub-millisecond" if max(in_process, out_of_process) < 1 else "NOT sub-millisecond"
    return (
        f"Double round trip (token request, keep-alive, median of 500): {in_process:.3f} ms in-process, "
        f"{out_of_process:.3f} ms served from a subprocess: {verdict}."
    )


# 1. DAG parse cost


def import_ms(module: str) -> float:
    """Milliseconds a fresh interpreter takes to import ``module`` after ``import airflow.sdk``."""
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_CHILD, module], capture_output=True, text=True, check=True, timeout=300
    )
    return float(done.stdout.strip().splitlines()[-1])


def figure_parse_cost() -> Figure:
    """Extra import time of our operators module, HttpOperator's and lark-oapi's: medians of fresh processes."""
    modules = {
        "ours": "airflow_provider_feishu_workplace.operators.feishu_workplace",
        "HttpOperator": "airflow.providers.http.operators.http",
        "lark-oapi": "lark_oapi",
    }
    say("1/6 parse cost: warm-up round (compiles bytecode, fills the page cache; not counted) ...")
    for module in modules.values():
        import_ms(module)
    samples: dict[str, list[float]] = {name: [] for name in modules}
    for run in range(IMPORT_RUNS):
        for name, module in modules.items():  # interleaved: a slow moment hits all three
            samples[name].append(import_ms(module))
        latest = ", ".join(f"{name} {times[-1]:.1f} ms" for name, times in samples.items())
        say(f"1/6 parse cost: run {run + 1}/{IMPORT_RUNS}: {latest}")
    ours, http_op, lark = (statistics.median(samples[name]) for name in modules)
    return Figure(
        "DAG parse cost (import after airflow.sdk, median of 7 processes)",
        f"ours {ours:.1f} ms; HttpOperator {http_op:.0f} ms; lark-oapi {lark / 1000:.2f} s",
        f"ours ≤ 1/3 of HttpOperator ({http_op / 3:.0f} ms)",
        ours <= http_op / 3,
    )


# 2. Requests per job


def figure_requests_per_job() -> Figure:
    """Token and search calls of the hook for 1 day and for 365 days of workplace data."""
    from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook
    from airflow_provider_feishu_workplace.testing import FeishuDouble

    say("2/6 requests per job ...")
    cases = {"1 day": days_from(dt.date(2025, 6, 1), 1), "365 days": days_from(dt.date(2025, 1, 1), 365)}
    parts, met = [], True
    with FeishuDouble() as double:
        use_connection(double)
        for label, (first, last) in cases.items():
            double.clear_requests()
            hook = FeishuWorkplaceHook()  # a fresh hook per job, as each task run has
            items = list(hook.iter_workplace_access_data(first, last))
            hook.close()
            days = len(double.expected_items("workplace", first, last))
            if len(items) != days:
                raise RuntimeError(f"{label}: the hook read {len(items)} items, expected {days}")
            tokens, searches = double.count("token"), double.count("workplace")
            minimum = (1, -(-days // 200))  # one token call, one search call per 200 days
            met &= (tokens, searches) == minimum
            parts.append(f"{label}: {tokens} token + {searches} search (min {minimum[0]} + {minimum[1]})")
    return Figure("Requests per job (workplace, through the hook)", "; ".join(parts), "= the minimum", met)


# 3. Client overhead


def pages_with_hook(served: dict[str, str], first: str, last: str, page_size: int) -> int:
    """Read the block range through our hook, pacing off; return the items read."""
    from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook

    hook = FeishuWorkplaceHook(requests_per_second=None)
    try:
        return sum(1 for _ in hook.iter_workplace_block_access_data(first, last, page_size=page_size))
    finally:
        hook.close()


def pages_with_session(served: dict[str, str], first: str, last: str, page_size: int) -> int:
    """The minimal hand-written client: one token, then POSTs with query parameters following page_token."""
    import requests

    with requests.Session() as session:
        answer = session.post(served.url + TOKEN_PATH, json={"app_id": served.app_id, "app_secret": served.app_secret})
        headers = {"Authorization": f"Bearer {answer.json()['tenant_access_token']}"}
        query = {"from_date": first, "to_date": last, "page_size": str(page_size)}
        items = 0
        while True:
            data = session.post(served.url + BLOCK_PATH, params=query, headers=headers).json()["data"]
            items += len(data["items"])
            if not data["has_more"]:
                return items
            query["page_token"] = data["page_token"]


def pages_with_lark(served: dict[str, str], first: str, last: str, page_size: int) -> int:
    """The official SDK, lark-oapi, following page_token (as tests/testing/test_lark_oapi_compat.py does)."""
    import lark_oapi as lark
    from lark_oapi.api.workplace.v1 import SearchWorkplaceBlockAccessDataRequest
    from lark_oapi.core.cache import LocalCache

    client = (
        lark.Client.builder()
        .app_id(served.app_id)
        .app_secret(served.app_secret)
        .domain(served.url)
        .cache(LocalCache())  # its own token cache, so each run fetches a token like the other clients
        .log_level(lark.LogLevel.ERROR)
        .build()
    )
    items, page_token = 0, None
    while True:
        builder = SearchWorkplaceBlockAccessDataRequest.builder().from_date(first).to_date(last).page_size(page_size)
        if page_token:
            builder.page_token(page_token)
        response = client.workplace.v1.workplace_block_access_data.search(builder.build())
        if not response.success():
            raise RuntimeError(f"lark-oapi got code {response.code}: {response.msg}")
        items += len(response.data.items)
        if not response.data.has_more:
            return items
        page_token = response.data.page_token


def figure_client_overhead() -> Figure:
    """2,000 pages from the double, pacing off: our hook against a hand-written loop and lark-oapi."""
    pages, blocks_per_day = 2000, 10
    first, last = days_from(dt.date(2019, 1, 1), pages)  # one full page of 10 blocks a day
    clients: dict[str, Callable[..., int]] = {
        "ours": pages_with_hook,
        "hand loop": pages_with_session,
        "lark-oapi": pages_with_lark,
    }
    say("3/6 client overhead: importing lark-oapi, warm-up round (not counted) ...")
    import lark_oapi  # noqa: F401 - seconds of import, kept out of the timed rounds

    seconds: dict[str, list[float]] = {name: [] for name in clients}
    # The double serves from its own process, so the clients do not share the GIL with it.
    with served_double("--no-rate-limit", "--blocks-per-day", str(blocks_per_day)) as served:
        use_connection(served)
        for read in clients.values():
            read(served, first, last, blocks_per_day)
        names = list(clients)
        for round_ in range(OVERHEAD_ROUNDS):
            for name in names[round_ % 3 :] + names[: round_ % 3]:  # rotate who goes first
                started = time.perf_counter()
                items = clients[name](served, first, last, blocks_per_day)
                seconds[name].append(time.perf_counter() - started)
                if items != pages * blocks_per_day:
                    raise RuntimeError(f"{name} read {items} items, expected {pages * blocks_per_day}")
            say(
                f"3/6 client overhead: round {round_ + 1}/{OVERHEAD_ROUNDS}: "
                + ", ".join(f"{n} {s[-1]:.2f}s" for n, s in seconds.items())
            )
    per_page = {name: statistics.median(s) / pages * 1000 for name, s in seconds.items()}
    ratio = per_page["ours"] / per_page["hand loop"] - 1
    return Figure(
        f"Client overhead ({pages:,} pages, pacing off, median of {OVERHEAD_ROUNDS})",
        f"ours {per_page['ours']:.3f} ms/page ({ratio:+.1%} vs hand loop); hand loop {per_page['hand loop']:.3f}; "
        f"lark-oapi {per_page['lark-oapi']:.3f}",
        "ours ≤ hand loop +15%",
        ratio <= 0.15,
    )


# 4. Pacing


def figure_pacing() -> Figure:
    """400 pages against the double's 20 requests/second limit with the hook's default pacing."""
    from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook
    from airflow_provider_feishu_workplace.testing import FeishuDouble

    pages, blocks_per_day, rate = 400, 20, 20
    bound = pages / rate
    first, last = days_from(dt.date(2024, 1, 1), pages)
    say(f"4/6 pacing: {pages} pages at {rate}/s (about {bound:.0f} s) ...")
    with FeishuDouble(blocks_per_day=blocks_per_day) as double:  # the double's default limit: 20/s
        use_connection(double)
        hook = FeishuWorkplaceHook()  # the hook's default pacing: 20/s
        started = time.perf_counter()
        items = sum(1 for _ in hook.iter_workplace_block_access_data(first, last, page_size=blocks_per_day))
        elapsed = time.perf_counter() - started
        hook.close()
        statuses = [request.status for request in double.requests if request.endpoint == "block"]
    if items != pages * blocks_per_day:
        raise RuntimeError(f"the hook read {items} items, expected {pages * blocks_per_day}")
    limited = statuses.count(429)
    off = elapsed / bound - 1
    return Figure(
        f"Pacing ({pages} pages against the double's {rate}/s limit)",
        f"{elapsed:.2f} s ({off:+.1%} vs {bound:.0f} s bound), {len(statuses)} search calls, {limited} × 429",
        "within ±5% of the bound, zero 429s",
        abs(off) <= 0.05 and limited == 0,
    )


# 5. Memory


def peak_rss(blocks_per_day: int, days: int, output_format: str = "jsonl") -> dict[str, int]:
    """Run the operator in a fresh process (scripts/bench_memory_child.py); return what it reports."""
    output_dir = WORK / f"memory-{blocks_per_day}x{days}-{output_format}"
    from bench_child import run_child

    child = SCRIPTS / "bench_memory_child.py"
    args = [str(child), str(blocks_per_day), str(days), str(output_dir), output_format]
    return run_child(args, what="the memory child", timeout=600)


def figure_memory(output_format: str = "jsonl") -> Figure:
    """Peak RSS of the block operator writing 200,000 items to file:// against writing 2,000 (JSON Lines or Parquet).

    Both children start the same double (2,000 blocks a day) and pull 100 days against 1, so only
    the pull's size differs. One day of 200,000 blocks would also put the double's 200,000 block ids
    (about 30 MB) into the larger child, and exceeds the hook's default page budget for one day.
    The peak is each child's VmHWM (see scripts/bench_memory_child.py for why not ru_maxrss).
    """
    blocks_per_day, runs = 2000, {"small": 1, "large": 100}
    results = {}
    for name, days in runs.items():
        say(f"5/6 memory: {blocks_per_day * days:,} items as {output_format} in a fresh process ...")
        results[name] = peak_rss(blocks_per_day, days, output_format)
        if results[name]["items"] != blocks_per_day * days:
            raise RuntimeError(f"{name}: wrote {results[name]['items']} items, expected {blocks_per_day * days}")
    small, large = (results[name]["peak_rss_kib"] / 1024 for name in runs)
    growth = {name: (r["peak_rss_kib"] - r["rss_before_execute_kib"]) / 1024 for name, r in results.items()}
    return Figure(
        f"Memory (peak RSS, operator → file:// {'Parquet' if output_format == 'parquet' else 'JSON Lines'}, "
        "fresh process each)",
        f"200,000 items {large:.0f} MB; 2,000 items {small:.0f} MB; apart {large - small:.1f} MB "
        f"(execute() added {growth['large']:.0f} and {growth['small']:.0f} MB)",
        "< 20 MB apart",
        large - small < 20,
    )


# 6. End to end


def figure_end_to_end() -> Figure:
    """``airflow dags test`` of the example extract + load DAGs for one day, against a do-nothing pair."""
    import bench_e2e

    result = bench_e2e.measure(WORK / "e2e", END_TO_END_RUNS, say)
    if result.rows_loaded != 5 * END_TO_END_RUNS:  # the double's 5 blocks a day, one day per run
        raise RuntimeError(f"the load DAG put {result.rows_loaded} block rows in the warehouse")
    return Figure(
        f"End to end (airflow dags test, extract + load, median of {END_TO_END_RUNS})",
        f"ours {result.ours:.2f} s; trivial pair {result.trivial:.2f} s; ours adds {result.added:+.1%}",
        "adds < 20%",
        result.added < 0.20,
    )


# 7. Backfill


def figure_backfill() -> Figure:
    """A year x 3 data sets in range mode, and range mode against daily runs on the same days, under a scheduler."""
    import bench_backfill

    result = bench_backfill.measure(WORK / "backfill", BACKFILL_DAYS, say)
    if result.year_files != 3 * 365:
        raise RuntimeError(f"the year's range run wrote {result.year_files} files, expected {3 * 365}")
    return Figure(
        f"Backfill (real scheduler; a year x 3 data sets in range mode; {BACKFILL_DAYS} days range vs daily runs)",
        f"year {result.range_year:.1f} s; {BACKFILL_DAYS} days: range {result.range_days:.1f} s, "
        f"{BACKFILL_DAYS} daily runs {result.daily:.1f} s, ratio {result.ratio:.1f}x",
        "year < 30 s",
        result.range_year < 30,
    )


# 8. Waiting


WAITING_TABLES: list[str] = []


def figure_waiting() -> Figure:
    """N = 10, 100, 1,000 deferred Feishu sensors in one triggerer (scripts/bench_waiting.py)."""
    import bench_waiting

    result = bench_waiting.measure(say)
    WAITING_TABLES.append(result.table)
    return Figure(
        "Waiting (N deferred sensors in one triggerer beside N TimeDeltaTriggers; table below)",
        result.summary,
        "at N=1,000: memory ≤ 2x; checks/min independent of N (one day), ≤ the share's cap (N days); "
        "stall ≤ 100 ms; last success ≤ 2 intervals after publication",
        result.met,
    )


# The table


def run_figure(name: str, figure: Callable[[], Figure]) -> Figure:
    """Measure one figure; if it breaks, its row says so (traceback on stderr) and the others still run."""
    try:
        return figure()
    except Exception as error:
        traceback.print_exc()
        reason = (str(error).splitlines() or [""])[0][:120]
        return Figure(name, f"failed: {type(error).__name__}: {reason}", "see stderr", False)


def table(figures: list[Figure]) -> str:
    """The figures as one Markdown table."""
    rows = [("#", "figure", "measured", "goal", "met"), ("-", "-", "-", "-", "-")]
    rows += [(str(n), f.name, f.measured, f.goal, "yes" if f.met else "**no**") for n, f in enumerate(figures, 1)]
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def main() -> None:
    started = time.monotonic()
    configure_environment()
    machine_line = machine()
    say(machine_line)
    figures = [
        run_figure("DAG parse cost", figure_parse_cost),
        run_figure("Requests per job", figure_requests_per_job),
        run_figure("Client overhead", figure_client_overhead),
        run_figure("Pacing", figure_pacing),
        run_figure("Memory", figure_memory),
        run_figure("Memory (Parquet)", lambda: figure_memory("parquet")),
        run_figure("End to end", figure_end_to_end),
        run_figure("Backfill", figure_backfill),
        run_figure("Waiting", figure_waiting),
    ]
    latency = double_latency()
    say(f"done in {time.monotonic() - started:.0f} s")
    print(f"Machine: {machine_line}\n")
    print(table(figures))
    for waiting in WAITING_TABLES:
        print(f"\nWaiting (figure 9), each case in a fresh process:\n\n{waiting}")
    print(f"\n{latency}")
    print(f"Goals met: {sum(f.met for f in figures)} of {len(figures)}. Bench took {time.monotonic() - started:.0f} s.")


if __name__ == "__main__":
    main()
