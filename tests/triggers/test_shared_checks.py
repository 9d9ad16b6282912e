"""Many Feishu triggers in one triggerer (issue 21): checks on the provider's own threads within one deadline,
shared per day, paced per app, transient faults waited out up to a bound.

The triggers run in Airflow's own trigger runner, all on one event loop (tests/triggers/in_process_triggerer.py),
against the double over loopback.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest

from airflow_provider_feishu_workplace.triggers.feishu_workplace import FeishuWorkplaceDataTrigger
from tests.triggers.in_process_triggerer import InProcessTriggerer, date_time_trigger, run_triggers

DAY = "2026-11-19"


def days(count: int) -> list[str]:
    first = dt.date(2025, 1, 1)
    return [(first + dt.timedelta(days=n)).isoformat() for n in range(count)]


def feishu_trigger(day: str = DAY, **kwargs) -> FeishuWorkplaceDataTrigger:
    kwargs.setdefault("hook_params", {"backoff_base": 0.01, "max_attempts": 1})
    return FeishuWorkplaceDataTrigger(feishu_conn_id="feishu_default", date=day, **kwargs)


def check_times(double, day: str | None = None) -> list[float]:
    return sorted(
        call.received_at for call in double.calls("workplace") if day is None or call.query["from_date"] == day
    )


def test_fifty_slow_checks_leave_an_unrelated_trigger_on_time(feishu_conn):
    waited = days(50)
    for day in waited:
        feishu_conn.publish_at(day, None)
    # Every check answers after 2 s: the provider's 4 check threads are busy the whole time, 46 checks queued.
    feishu_conn.inject("slow", endpoint="workplace", times=None, delay=2.0)
    to_thread_seconds = []

    async def use_the_default_pool():
        # What other triggers do with the loop's default pool (asyncio.to_thread) stays quick too.
        while True:
            started = time.monotonic()
            await asyncio.to_thread(time.sleep, 0.01)
            to_thread_seconds.append(time.monotonic() - started)
            await asyncio.sleep(0.2)

    async def main():
        triggerer = InProcessTriggerer()
        triggerer.start()
        # Airflow's DateTimeTrigger sleeps a second at a time until its moment: it starts now, so it wakes
        # 1, 2, 3 and 4 s from now, and fires at the 4th wake-up, 0.05 s after its moment, unless delayed.
        moment = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3.95)
        moment_monotonic = time.monotonic() + 3.95
        triggerer.add("timer", date_time_trigger(moment))
        for day in waited:
            triggerer.add(day, feishu_trigger(day, poke_interval=0.5, check_rate_share=1.0))
        pool_user = asyncio.get_running_loop().create_task(use_the_default_pool())
        try:
            await triggerer.collect(timeout=30, until=lambda t: "timer" in t.events)
        finally:
            pool_user.cancel()
            await triggerer.stop()
        return triggerer, triggerer.events["timer"][0] - moment_monotonic

    triggerer, lateness = asyncio.run(main())

    stalls = [(round(at - triggerer.started, 2), round(seconds, 3)) for at, seconds in triggerer.stalls]
    assert -0.1 <= lateness <= 0.5, f"the unrelated trigger fired {lateness:.2f} s late (loop stalls: {stalls})"
    # No import compiled in the check threads, so no two threads parsed modules at once (what crashes Python
    # < 3.11.8).
    assert triggerer.compiled_in_threads == []
    assert max(to_thread_seconds) < 0.5, to_thread_seconds
    # The Feishu checks were really under way, and slow, all along: 4 threads, answers after 2 s each.
    assert 8 <= len(feishu_conn.calls("workplace")) <= 12
    assert set(triggerer.events) == {"timer"}  # no day was published


def test_triggers_waiting_for_one_day_share_one_check_per_interval(feishu_conn):
    feishu_conn.publish_at(DAY, None)
    sensors, interval = 30, 0.5
    triggers = {f"sensor {n}": feishu_trigger(poke_interval=interval) for n in range(sensors)}
    published_at = []

    async def publish_later(run):
        await asyncio.sleep(2.6)
        feishu_conn.publish_at(DAY, 0)
        published_at.append(time.monotonic())

    run = asyncio.run(run_triggers(triggers, timeout=30, during=publish_later))

    assert {payload["status"] for _, payload in run.events.values()} == {"published"}
    times = check_times(feishu_conn, DAY)
    # One check per interval (each wait is the interval plus up to 10% jitter), whatever the number of triggers.
    assert len(times) <= (times[-1] - times[0]) / interval + 1, times
    assert min(later - earlier for earlier, later in zip(times, times[1:], strict=False)) >= interval * 0.95
    assert 4 <= len(times) <= 8, times
    # Every trigger fired within one interval (and its jitter) of publication.
    assert max(at for at, _ in run.events.values()) - published_at[0] <= interval * 1.1 + 0.3


def test_checks_of_many_days_stay_under_the_apps_share_of_the_limit(feishu_conn):
    waited = days(40)
    for day in waited:
        feishu_conn.publish_at(day, None)
    share = 0.25  # of the hook's 20 requests/s: 5 checks a second for the app, whatever the number of days
    triggers = {day: feishu_trigger(day, poke_interval=0.2, check_rate_share=share) for day in waited}

    asyncio.run(run_triggers(triggers, timeout=4))

    times = check_times(feishu_conn)
    rate = share * 20
    assert len(times) >= 15, len(times)  # the checks went on all along, spread over the days
    assert len({call.query["from_date"] for call in feishu_conn.calls("workplace")}) >= 15
    # Slots 1/rate s apart (arrival times on loopback may move by a few milliseconds).
    assert len(times) <= (times[-1] - times[0]) * rate * 1.05 + 1, (len(times), times[-1] - times[0])
    # The pacer hands out slots 1/rate s apart, but a loaded machine can hold a request back and let it
    # arrive with the next one (CI saw 7 in one second at rate 5): the busiest two seconds are counted, with
    # room for such a pair. A pacer not shared by the 40 days' checks would send about 200 a second.
    busiest_two_seconds = max(sum(1 for t in times if start <= t < start + 2) for start in times)
    assert busiest_two_seconds <= 2 * rate + 2, busiest_two_seconds


def test_a_transient_fault_during_the_wait_is_waited_out(feishu_conn, caplog, capfd):
    feishu_conn.publish_at(DAY, None)
    # Each check is one attempt (max_attempts=1): two checks in a row fail after the hook's retries.
    feishu_conn.inject("server_error", endpoint="workplace", skip=1, times=2)

    async def publish_later(run):
        while len(feishu_conn.calls("workplace")) < 4:
            await asyncio.sleep(0.02)
        feishu_conn.publish_at(DAY, 0)

    run = asyncio.run(run_triggers({"wait": feishu_trigger(poke_interval=0.2)}, timeout=30, during=publish_later))

    assert run.events["wait"][1]["status"] == "published"
    assert [call.status for call in feishu_conn.calls("workplace")][:4] == [200, 500, 500, 200]
    logged = caplog.text + capfd.readouterr().out  # the trigger's log: logging on Airflow 2, structlog on 3
    assert "Check 3 of workplace data for 2026-11-19 failed (2 in a row, max_failed_checks=5); waiting on" in logged


def test_failed_checks_in_a_row_end_the_wait_at_their_bound_named(feishu_conn):
    feishu_conn.inject("server_error", endpoint="workplace", times=None)

    run = asyncio.run(run_triggers({"wait": feishu_trigger(poke_interval=0.1, max_failed_checks=3)}, timeout=30))

    event = run.events["wait"][1]
    assert (event["status"], event["rerun_can_help"]) == ("error", True)
    assert event["message"].startswith("3 checks in a row failed (max_failed_checks=3); the last: ")
    assert "HTTP 500" in event["message"]
    assert feishu_conn.count("workplace") == 3


@pytest.mark.parametrize("fault", ["missing_scope", "app_not_installed"])
def test_what_waiting_cannot_fix_ends_the_wait_at_the_first_check(feishu_conn, fault):
    feishu_conn.inject(fault, endpoint="workplace", times=None)

    run = asyncio.run(run_triggers({"wait": feishu_trigger(poke_interval=0.1)}, timeout=30))

    event = run.events["wait"][1]
    assert (event["status"], event["rerun_can_help"]) == ("error", False)
    assert feishu_conn.count("workplace") == 1


def test_a_check_ends_at_its_overall_deadline(feishu_conn):
    feishu_conn.publish_at(DAY, None)
    feishu_conn.inject("slow", endpoint="workplace", times=None, delay=5.0)
    trigger = feishu_trigger(poke_interval=0.1, check_timeout=1.0, max_failed_checks=1)

    run = asyncio.run(run_triggers({"wait": trigger}, timeout=30))

    at, event = run.events["wait"]
    assert (event["status"], event["rerun_can_help"]) == ("error", True)
    assert "did not finish within its deadline of 1s (sensor argument check_timeout)" in event["message"]
    assert at - run.started < 2.0


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"check_timeout": 0}, "check_timeout=0 must be a positive number"),
        ({"max_failed_checks": 0}, "max_failed_checks=0 must be a whole number"),
        ({"check_rate_share": 1.5}, "check_rate_share=1.5 must be a fraction"),
    ],
)
def test_bad_wait_arguments_are_refused_by_name(arguments, named):
    from airflow_provider_feishu_workplace.exceptions import FeishuConfigError

    with pytest.raises(FeishuConfigError, match=named):
        feishu_trigger(**arguments)
