"""The hook of a store app on pushed tickets: the newest pushed ticket wins, one app token serves every
tenant, a stale ticket is recovered through resend (at most once per interval), a stopped tenant fails alone.

The double pushes real deliveries to a callback on loopback that hands them to the provider's receiver
(:class:`EventReceiver`), which stores them in the tests' Airflow database, where the hook reads them.
"""

from __future__ import annotations

import pytest

from airflow_provider_feishu_workplace.exceptions import FeishuPermissionError, FeishuTransientError
from airflow_provider_feishu_workplace.hooks.feishu import FeishuHook
from airflow_provider_feishu_workplace.store_apps import tickets
from airflow_provider_feishu_workplace.store_apps._keys import resend_key, tenants_key, ticket_key
from airflow_provider_feishu_workplace.store_apps.receiver import EventReceiver, ReceiverSecrets
from airflow_provider_feishu_workplace.testing import EventPusher, FeishuDouble
from tests.store_apps.callback_server import callback_server

ENCRYPT_KEY, TOKEN = "hook-test-encrypt-key", "hook-test-verification-token"
TWELVE_HOURS = 12 * 3600


def clear_store(app_id: str) -> None:
    from airflow.models.variable import Variable

    for key in (ticket_key(app_id), resend_key(app_id), tenants_key(app_id)):
        Variable.delete(key)


@pytest.fixture
def double(airflow_db):
    with FeishuDouble(rate_limit_per_second=None) as running:
        clear_store(running.store_app_id)
        yield running
        clear_store(running.store_app_id)


@pytest.fixture
def pusher(double):
    """The double pushing to the provider's receiver; waits until the first ticket is stored."""
    receiver = EventReceiver(lambda conn_id: ReceiverSecrets(double.store_app_id, TOKEN, ENCRYPT_KEY))

    def receive(path, headers, body):
        status, answer = receiver.handle("feishu_store", body, headers)
        return status, str(answer).encode()

    with (
        callback_server(receive) as url,
        EventPusher.for_double(
            double, url, encrypt_key=ENCRYPT_KEY, verification_token=TOKEN, retry_delays=(0.2, 0.2)
        ) as running,
    ):
        running.wait_delivered(next(record.event_id for record in _wait_records(running)))
        yield running


def _wait_records(pusher):
    import time

    deadline = time.monotonic() + 10
    while not pusher.records and time.monotonic() < deadline:
        time.sleep(0.05)
    return pusher.records


def connect(monkeypatch, double, conn_id: str, tenant_key: str) -> FeishuHook:
    conn = double.connection("store", extra={"tenant_key": tenant_key})  # the static ticket stays: a fallback
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", conn)
    return FeishuHook(conn_id, ticket_wait=5, backoff_base=0.01, backoff_max=0.05)


def test_the_newest_pushed_ticket_wins_over_the_connections_static_one(double, pusher, monkeypatch):
    connect(monkeypatch, double, "feishu_a", double.tenant_key).get_tenant_access_token()
    sent = [call.body["app_ticket"] for call in double.calls("app_access_token")]
    assert sent == [tickets.latest_ticket(double.store_app_id).ticket]
    assert sent[0] != double.app_ticket


def test_every_tenant_of_the_app_shares_one_app_token(double, pusher, monkeypatch):
    pusher.wait_delivered(pusher.push_tenant_event("app_open", "tenant_b"))
    first = connect(monkeypatch, double, "feishu_a", double.tenant_key).get_tenant_access_token()
    second = connect(monkeypatch, double, "feishu_b", "tenant_b").get_tenant_access_token()
    assert first != second
    assert double.count("app_access_token") == 1
    assert [call.body["tenant_key"] for call in double.calls("tenant_access_token")] == [double.tenant_key, "tenant_b"]


def test_one_connection_serves_every_tenant_through_the_hooks_tenant_key(double, pusher, monkeypatch):
    pusher.wait_delivered(pusher.push_tenant_event("app_open", "tenant_c"))
    connect(monkeypatch, double, "feishu_app", double.tenant_key)
    hook = FeishuHook("feishu_app", tenant_key="tenant_c", backoff_base=0.01)
    hook.get_tenant_access_token()
    assert [call.body["tenant_key"] for call in double.calls("tenant_access_token")] == ["tenant_c"]


def test_a_stale_ticket_is_recovered_through_one_resend(double, pusher, monkeypatch):
    hook = connect(monkeypatch, double, "feishu_a", double.tenant_key)
    hook.get_tenant_access_token()
    double.advance_clock(TWELVE_HOURS + 1)  # every ticket and token has expired

    connect(monkeypatch, double, "feishu_a", double.tenant_key).get_tenant_access_token()

    codes = [call.code for call in double.calls("app_access_token")]
    assert codes == [0, 10012, 0]
    assert double.count("app_ticket_resend") == 1
    assert sum(record.event_type == "app_ticket" for record in pusher.records) == 2


def test_a_second_stale_ticket_within_the_interval_waits_without_resending_and_says_what_to_check(
    double, pusher, monkeypatch
):
    connect(monkeypatch, double, "feishu_a", double.tenant_key).get_tenant_access_token()
    double.advance_clock(TWELVE_HOURS + 1)
    connect(monkeypatch, double, "feishu_a", double.tenant_key).get_tenant_access_token()  # resend 1
    double.advance_clock(TWELVE_HOURS + 1)
    hook = connect(monkeypatch, double, "feishu_a", double.tenant_key)
    hook.ticket_wait = 0.5

    with pytest.raises(FeishuTransientError) as caught:
        hook.get_tenant_access_token()

    message = str(caught.value)
    assert "already asked" in message and "callback URL" in message and "feishu_a" in message
    assert double.count("app_ticket_resend") == 1
    assert not any(record.payload["event"].get("app_ticket", "-") in message for record in pusher.records)
    assert caught.value.rerun_can_help


def test_a_tenant_that_stopped_the_app_fails_alone(double, pusher, monkeypatch):
    pusher.wait_delivered(pusher.push_tenant_event("app_open", "tenant_b"))
    connect(monkeypatch, double, "feishu_b", "tenant_b").get_tenant_access_token()
    pusher.wait_delivered(pusher.push_tenant_event("app_status_change", "tenant_b", status="stop_by_tenant"))

    with pytest.raises(FeishuPermissionError, match="not enabled"):
        connect(monkeypatch, double, "feishu_b", "tenant_b").get_tenant_access_token()
    assert connect(monkeypatch, double, "feishu_a", double.tenant_key).get_tenant_access_token()

    from airflow_provider_feishu_workplace.store_apps.tenants import tenants

    assert tenants(double.store_app_id)["tenant_b"][0] == "stopped"


def test_with_no_ticket_pushed_yet_the_hook_asks_for_one_and_uses_it(double, pusher, monkeypatch):
    import json

    clear_store(double.store_app_id)  # as before the platform's first push arrived
    conn = json.loads(double.connection("store", extra={"tenant_key": double.tenant_key}))
    conn["extra"].pop("app_ticket_secret", None)  # no static ticket either: the pushed one is the only source
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_NEW", json.dumps(conn))

    FeishuHook("feishu_new", ticket_wait=5, backoff_base=0.01).get_tenant_access_token()

    assert double.count("app_ticket_resend") == 1
    assert [call.body["app_ticket"] for call in double.calls("app_access_token")] == [
        tickets.latest_ticket(double.store_app_id).ticket
    ]
