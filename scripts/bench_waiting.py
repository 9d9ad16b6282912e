"""The waiting figure of ``make bench`` (issue 21): N deferred Feishu sensors in one triggerer.

For N = 10, 100 and 1,000, twice (all N waiting for the same day; N waiting for N different keys), in a
fresh process each, as Airflow's triggerer runs them: Airflow's own ``TriggerRunner.run_trigger``, every
trigger on one event loop (tests/triggers/in_process_triggerer.py). The double is served from its command
line in another process, with the platform's 20 requests/second limit. In each process:

1. N of Airflow's ``TimeDeltaTrigger`` (an hour away) start: the baseline. RSS is read before and after.
2. N ``FeishuWorkplaceDataTrigger`` start beside them (poke interval ``INTERVAL``), waiting for days the
   double holds back. After ``WINDOW`` s: RSS again, and the requests the double received meanwhile.
3. Same day only: the day is published; the time until the last of the N triggers fired is measured.

The double knows one tenant, so "N different tenants" are N different days of that tenant: to the
triggers the key (app, tenant, data set, day) differs in the same way and they take the same path.

Measured: RSS per trigger against the baseline's, requests per minute to the double, the event loop's
longest stall (a 10 ms tick watched while the triggers run), publication to the last success.
Goals: per-trigger memory at most 2x the baseline's; requests per minute independent of N for the same
day, and at most ``check_rate_share`` of the 20/s limit for N keys; no stall over 100 ms; every sensor done
within two intervals of publication for the same day.

Runs alone: ``.venv-airflow-3.3/bin/python scripts/bench_waiting.py`` (about 3 minutes).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import bench_child

ROOT = Path(__file__).resolve().parent.parent
SIZES = (10, 100, 1000)
SCENARIOS = ("same day", "N keys")
INTERVAL = 4.0  # the sensors' poke interval, in seconds
WINDOW = 12.0  # how long the requests are counted while nothing is published
SHARE = 0.2  # the triggers' default check_rate_share
LIMIT = 20  # the search endpoint's documented requests per second
FIRST_DAY = dt.date(2020, 1, 1)


def waited_days(scenario: str, n: int) -> list[str]:
    """The day each of the N sensors waits for."""
    count = 1 if scenario == "same day" else n
    return [(FIRST_DAY + dt.timedelta(days=i)).isoformat() for i in range(count)]


# The child: one triggerer process.


def rss_kib() -> int:
    """This process's resident set size now, in KiB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


async def child(n: int, scenario: str, served_info: dict) -> dict:
    import asyncio
    import gc

    from airflow_provider_feishu_workplace.testing import ServedDouble
    from airflow_provider_feishu_workplace.triggers.feishu_workplace import FeishuWorkplaceDataTrigger
    from tests.triggers.in_process_triggerer import InProcessTriggerer, time_delta_trigger

    served = ServedDouble(**served_info)
    days = waited_days(scenario, n)

    def feishu(day: str) -> FeishuWorkplaceDataTrigger:
        return FeishuWorkplaceDataTrigger(
            feishu_conn_id="feishu_default", date=day, poke_interval=INTERVAL, check_rate_share=SHARE
        )

    triggerer = InProcessTriggerer()
    triggerer.start()
    # Warm-up, not counted: one trigger of each kind runs to its event (imports, the check threads, a token).
    await asyncio.to_thread(served.publish_at, "2019-12-31", 0)
    triggerer.add("warm-up timer", time_delta_trigger(dt.timedelta(seconds=0.1)))
    triggerer.add("warm-up feishu", feishu("2019-12-31"))
    await triggerer.collect(timeout=60, until=lambda t: len(t.events) == 2)

    gc.collect()
    before = rss_kib()
    await triggerer.add_all((f"timer {i}", time_delta_trigger(dt.timedelta(hours=1))) for i in range(n))
    await asyncio.sleep(2)
    gc.collect()
    with_timers = rss_kib()

    await asyncio.sleep(0.1)  # the stall watch's tick that spanned the gc.collect() above ends before the reset
    triggerer.reset_stall()
    counted_from = time.monotonic()
    await triggerer.add_all((f"feishu {i}", feishu(days[i % len(days)])) for i in range(n))
    await asyncio.sleep(WINDOW)
    counted_to = time.monotonic()
    # The double's log is stamped on the machine's monotonic clock, which every process shares.
    asked = [r for r in await asyncio.to_thread(served.requests, None, 1000) if r["received_at"] >= counted_from]
    checks = sum(1 for r in asked if r["endpoint"] == "workplace")
    tokens = sum(1 for r in asked if "token" in (r["endpoint"] or ""))
    with_feishu = rss_kib()  # no gc.collect() here: it would stall the loop the triggers run on

    to_last_success = None
    if scenario == "same day":
        await asyncio.to_thread(served.publish_at, days[0], 0)
        published = time.monotonic()
        names = [f"feishu {i}" for i in range(n)]
        done = await triggerer.collect(timeout=4 * INTERVAL, until=lambda t: all(name in t.events for name in names))
        if done:
            to_last_success = max(triggerer.events[name][0] for name in names) - published
            statuses = {triggerer.events[name][1]["status"] for name in names}
            if statuses != {"published"}:
                raise RuntimeError(f"the Feishu triggers fired {statuses}, not only 'published'")
    stall = triggerer.longest_stall
    triggerer.stalls = [(round(at - counted_from, 2), round(s, 3)) for at, s in triggerer.stalls]
    await triggerer.stop()
    by_endpoint = (await asyncio.to_thread(served.stats))["by_endpoint"]
    statuses_429 = sum(counts.get("429", 0) for counts in by_endpoint.values())
    return {
        "baseline_kib_per_trigger": (with_timers - before) / n,
        "feishu_kib_per_trigger": (with_feishu - with_timers) / n,
        "checks_per_minute": checks / (counted_to - counted_from) * 60,
        "token_requests": tokens,
        "longest_stall_s": stall,
        "to_last_success_s": to_last_success,
        "rate_limited": statuses_429,
        "stalls": triggerer.stalls,
    }


# The parent: the double, one child per case, the table.


@dataclass
class Case:
    n: int
    scenario: str
    result: dict


def run_child(n: int, scenario: str, served) -> dict:
    served.reset()
    served.clear_requests()
    for day in waited_days(scenario, n):
        served.publish_at(day, None)
    env = {
        **os.environ,
        "AIRFLOW_CONN_FEISHU_DEFAULT": served.connection(),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    info = json.dumps({name: getattr(served, name) for name in served.__dataclass_fields__})
    return bench_child.run_child(
        [__file__, "child", str(n), scenario, info], what=f"the waiting child ({n}, {scenario})", timeout=300, env=env
    )


@dataclass
class WaitingResult:
    cases: list[Case]
    table: str
    summary: str
    met: bool


def measure(say: Callable[[str], None]) -> WaitingResult:
    """Run every case; return the table and whether the four goals are met at N = 1,000."""
    from airflow_provider_feishu_workplace.testing import served_double

    cases = []
    with served_double("--max-requests", "1000") as served:
        for n in SIZES:
            for scenario in SCENARIOS:
                say(f"waiting: {n} Feishu triggers beside {n} TimeDeltaTriggers, {scenario} ...")
                cases.append(Case(n, scenario, run_child(n, scenario, served)))
                say(f"waiting: {n}, {scenario}: {cases[-1].result}")
    return WaitingResult(cases, *_table(cases))


def _table(cases: list[Case]) -> tuple[str, str, bool]:
    cap = SHARE * LIMIT * 60
    rows = [
        "| N | waiting for | RSS per trigger (Feishu / TimeDelta) | checks/min (+ token requests) | longest loop stall "
        "| publication → last success | 429s |",
        "| - | - | - | - | - | - | - |",
    ]
    same_day_rates = []
    met = True
    for case in cases:
        r = case.result
        baseline = r["baseline_kib_per_trigger"]
        ratio = r["feishu_kib_per_trigger"] / baseline if baseline > 0 else None
        success = "—" if r["to_last_success_s"] is None else f"{r['to_last_success_s']:.1f} s"
        if case.scenario == "same day":
            same_day_rates.append(r["checks_per_minute"])
            if r["to_last_success_s"] is None:
                success = "**not within 4 intervals**"
        ratio_text = f"{ratio:.2f}x" if ratio is not None else "n/a"
        rows.append(
            f"| {case.n:,} | {'one day' if case.scenario == 'same day' else f'{case.n:,} days'} "
            f"| {r['feishu_kib_per_trigger']:.1f} / {r['baseline_kib_per_trigger']:.1f} KiB ({ratio_text}) "
            f"| {r['checks_per_minute']:.0f} (+{r['token_requests']}) | {r['longest_stall_s'] * 1000:.0f} ms "
            f"| {success} | {r['rate_limited']} |"
        )
        if case.n == max(SIZES):
            met &= ratio is not None and ratio <= 2
            met &= r["longest_stall_s"] <= 0.1
            if case.scenario == "same day":
                met &= r["to_last_success_s"] is not None and r["to_last_success_s"] <= 2 * INTERVAL
        if case.scenario != "same day":
            met &= r["checks_per_minute"] <= cap
    spread = max(same_day_rates) - min(same_day_rates)
    met &= spread <= 60 / INTERVAL  # at most one check per interval apart
    big = {c.scenario: c.result for c in cases if c.n == max(SIZES)}
    same, keys = big["same day"], big["N keys"]
    summary = (
        f"N=1,000: memory {same['feishu_kib_per_trigger'] / same['baseline_kib_per_trigger']:.2f}x / "
        f"{keys['feishu_kib_per_trigger'] / keys['baseline_kib_per_trigger']:.2f}x the baseline (same day / "
        f"1,000 days); {same['checks_per_minute']:.0f} checks/min same day (N=10..1,000: "
        f"{min(same_day_rates):.0f}-{max(same_day_rates):.0f}), {keys['checks_per_minute']:.0f} for 1,000 days "
        f"(cap {cap:.0f}); stall {max(same['longest_stall_s'], keys['longest_stall_s']) * 1000:.0f} ms; "
        f"last success {same['to_last_success_s'] or float('nan'):.1f} s after publication (interval {INTERVAL:g} s)"
    )
    return "\n".join(rows), summary, met


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        import asyncio

        os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
        result = asyncio.run(child(int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])))
        bench_child.print_result(result)
        return
    started = time.monotonic()
    os.environ.setdefault("AIRFLOW_HOME", str(ROOT / ".bench" / "airflow"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    result = measure(lambda message: print(f"[bench] {message}", file=sys.stderr, flush=True))
    print(result.table)
    verdict = "yes" if result.met else "no"
    print(f"\n{result.summary}\nGoals met at N=1,000: {verdict}. Took {time.monotonic() - started:.0f} s.")


if __name__ == "__main__":
    main()
