"""FeishuWorkplaceDataTrigger: what Airflow stores of it, and its own loop against the double."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time

import pytest

from airflow_provider_feishu_workplace.endpoints import ENDPOINTS
from airflow_provider_feishu_workplace.triggers.feishu_workplace import FeishuWorkplaceDataTrigger

DAY = "2026-11-19"


def secrets_of(double) -> list[str]:
    return [
        double.app_secret,
        double.store_app_secret,
        double.app_ticket,
        *double.issued_tokens,
    ]


def run_trigger(trigger: FeishuWorkplaceDataTrigger) -> dict:
    async def first_event():
        return await anext(trigger.run())

    return asyncio.run(first_event()).payload


def test_serialized_kwargs_hold_no_secret_and_rebuild_the_trigger(feishu_conn):
    trigger = FeishuWorkplaceDataTrigger(feishu_conn_id="feishu_default", date=DAY, hook_params={"backoff_base": 0.01})
    assert run_trigger(trigger)["status"] == "published"  # the hook fetched a token

    classpath, kwargs = trigger.serialize()

    stored = json.dumps(kwargs)
    assert feishu_conn.issued_tokens
    for secret in secrets_of(feishu_conn):
        assert secret not in stored
    assert set(kwargs) == {
        "feishu_conn_id",
        "date",
        "dataset",
        "endpoint",
        "poke_interval",
        "exponential_backoff",
        "max_wait",
        "timeout_at",
        "hook_params",
        "check_timeout",
        "max_failed_checks",
        "check_rate_share",
    }
    assert classpath == "airflow_provider_feishu_workplace.triggers.feishu_workplace.FeishuWorkplaceDataTrigger"
    assert FeishuWorkplaceDataTrigger(**json.loads(stored)).serialize() == (classpath, kwargs)


def test_kwargs_stored_by_an_earlier_version_without_the_record_still_rebuild_a_working_trigger(feishu_conn):
    _, kwargs = FeishuWorkplaceDataTrigger(feishu_conn_id="feishu_default", date=DAY, dataset="block").serialize()
    assert kwargs["endpoint"] == ENDPOINTS["block"].to_dict()
    del kwargs["endpoint"]  # as the trigger stored them before it carried its record

    trigger = FeishuWorkplaceDataTrigger(**kwargs)

    assert trigger.serialize()[1]["endpoint"] == ENDPOINTS["block"].to_dict()
    assert run_trigger(trigger)["status"] == "published"
    assert feishu_conn.count("block") == 1


def test_a_name_registered_nowhere_and_no_record_is_an_error_event(feishu_conn):
    trigger = FeishuWorkplaceDataTrigger(feishu_conn_id="feishu_default", date=DAY, dataset="apps")

    event = run_trigger(trigger)

    assert (event["status"], event["rerun_can_help"]) == ("error", False)
    assert "dataset='apps' is unknown" in event["message"]
    assert feishu_conn.count("search") == 0


def test_reports_a_timeout_at_its_deadline(feishu_conn):
    feishu_conn.publish_at(DAY, None)
    deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1.2)
    trigger = FeishuWorkplaceDataTrigger(
        feishu_conn_id="feishu_default", date=DAY, poke_interval=0.5, timeout_at=deadline.isoformat()
    )

    event = run_trigger(trigger)

    assert event["status"] == "timeout"
    assert dt.datetime.now(dt.UTC) >= deadline
    assert 2 <= feishu_conn.count("workplace") <= 4


def test_backs_off_exponentially_up_to_max_wait(feishu_conn):
    feishu_conn.publish_at(DAY, None)
    deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2.6)
    trigger = FeishuWorkplaceDataTrigger(
        feishu_conn_id="feishu_default",
        date=DAY,
        poke_interval=0.2,
        exponential_backoff=True,
        max_wait=0.8,
        timeout_at=deadline.isoformat(),
    )

    run_trigger(trigger)

    times = [call.received_at for call in feishu_conn.calls("workplace")]
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    # waits of 0.2, 0.4, 0.8, 0.8, ... (each plus the request's own time)
    assert [round(gap, 1) for gap in gaps[:3]] == pytest.approx([0.2, 0.4, 0.8], abs=0.15)
    assert max(gaps[:-1]) < 1.0


@pytest.mark.parametrize(
    ("fault", "rerun_can_help"),
    [("missing_scope", False), ("quota", False)],
)
def test_errors_no_wait_can_fix_end_the_wait(feishu_conn, fault, rerun_can_help):
    feishu_conn.inject(fault, endpoint="workplace", times=None)
    trigger = FeishuWorkplaceDataTrigger(feishu_conn_id="feishu_default", date=DAY, poke_interval=0.1)

    event = run_trigger(trigger)

    assert event["status"] == "error"
    assert event["rerun_can_help"] is rerun_can_help
    assert feishu_conn.count("workplace") == 1


def test_a_connection_changed_mid_wait_applies_from_the_next_check(feishu_conn, monkeypatch):
    # The app behind feishu_default changes (self-built to store app) while the trigger waits: a rotated
    # secret or a moved host takes the same path, without a restart of the triggerer.
    feishu_conn.publish_at(DAY, None)

    def switch_then_publish():
        deadline = time.monotonic() + 30
        while feishu_conn.count("workplace") < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", feishu_conn.connection("store"))
        feishu_conn.publish_at(DAY, 0.5)

    switcher = threading.Thread(target=switch_then_publish)
    switcher.start()
    trigger = FeishuWorkplaceDataTrigger(feishu_conn_id="feishu_default", date=DAY, poke_interval=0.2)
    try:
        event = run_trigger(trigger)
    finally:
        switcher.join()

    assert event["status"] == "published"
    assert feishu_conn.count("tenant_access_token_internal") == 1  # the self-built app's one token
    assert feishu_conn.count("app_access_token") == 1  # then the store app's, from the first check after
    assert feishu_conn.count("tenant_access_token") == 1
