"""The double plays the platform's side of the event callback: pushes, expiry, resend, redelivery.

Its pushes are checked by lark-oapi's own ``EventDispatcherHandler`` (a client no one here wrote), built
with the same Encrypt Key and verification token, serving a callback on loopback.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests

from airflow_provider_feishu_workplace.testing import EventPusher, FeishuDouble
from tests.store_apps.callback_server import callback_server
from tests.waiting import first_true

ENCRYPT_KEY = "double-events-encrypt-key"
TOKEN = "double-events-verification-token"
FAST = {"timeout": 2.0, "retry_delays": (0.1, 0.1, 0.1, 0.1)}


@pytest.fixture
def double():
    with FeishuDouble(rate_limit_per_second=None) as running:
        yield running


def app_token_code(double: FeishuDouble, ticket: str) -> int:
    answer = requests.post(
        f"{double.url}/open-apis/auth/v3/app_access_token",
        json={"app_id": double.store_app_id, "app_secret": double.store_app_secret, "app_ticket": ticket},
        timeout=5,
    )
    return answer.json()["code"]


def wait_until(condition, timeout: float = 10.0):
    result = first_true(condition, timeout, every=0.05)
    assert result, f"not within {timeout} s"
    return result


def lark_answer(handler):
    """A callback that hands each push to lark-oapi's ``handler`` and answers what it answers."""
    from lark_oapi.core.model import RawRequest

    def answer(path, headers, body):
        request = RawRequest()
        request.uri, request.headers, request.body = path, headers, body
        response = handler.do(request)
        return response.status_code, response.content

    return answer


def test_lark_oapis_dispatcher_accepts_the_pushed_tickets_and_tenant_events(double):
    from lark_oapi.event.dispatcher_handler import EventDispatcherHandler

    received: list[dict] = []
    handler = (
        EventDispatcherHandler.builder(ENCRYPT_KEY, TOKEN)
        .register_p1_customized_event("app_ticket", lambda event: received.append(event.event))
        .register_p1_customized_event("app_open", lambda event: received.append(event.event))
        .register_p1_customized_event("app_status_change", lambda event: received.append(event.event))
        .build()
    )

    with (
        callback_server(lark_answer(handler)) as url,
        EventPusher.for_double(
            double, url, encrypt_key=ENCRYPT_KEY, verification_token=TOKEN, ticket_interval=0.5, **FAST
        ) as pusher,
    ):
        pusher.wait_delivered(pusher.push_tenant_event("app_open", "tenant_a"))
        stopped = pusher.push_tenant_event("app_status_change", "tenant_a", status="stop_by_tenant")
        pusher.wait_delivered(stopped)
        wait_until(lambda: sum(event["type"] == "app_ticket" for event in received) >= 2)  # on start, then interval
    assert all(record.statuses[-1] == 200 for record in pusher.records if record.statuses)
    tickets = [event["app_ticket"] for event in received if event["type"] == "app_ticket"]
    assert len(set(tickets)) == len(tickets)
    assert {event["app_id"] for event in received} == {double.store_app_id}
    assert [event.get("status") for event in received if event["type"] == "app_status_change"] == ["stop_by_tenant"]
    assert app_token_code(double, tickets[-1]) == 0  # what lark-oapi received is what the platform accepts


def test_lark_oapi_refuses_the_push_when_the_encrypt_key_differs(double):
    from lark_oapi.event.dispatcher_handler import EventDispatcherHandler

    handler = (
        EventDispatcherHandler.builder("another key", TOKEN)
        .register_p1_customized_event("app_ticket", lambda event: None)
        .build()
    )

    with callback_server(lark_answer(handler)) as url:
        pusher = EventPusher.for_double(double, url, encrypt_key=ENCRYPT_KEY, verification_token=TOKEN, **FAST)
        with pusher:
            first = wait_until(lambda: pusher.records and len(pusher.records[0].statuses) == 5 and pusher.records[0])
    assert first.statuses == [500] * 5 and not first.delivered  # the first try and four redeliveries


def test_a_delivery_without_a_200_in_time_is_redelivered_with_the_same_uuid(double):
    seen: list[str] = []
    lock = threading.Lock()

    def flaky(path, headers, body):
        with lock:
            seen.append(headers["X-Lark-Request-Nonce"])
            attempt = len(seen)
        if attempt == 1:
            time.sleep(1.5)  # over the pusher's timeout: no answer in time
        return (503, b"{}") if attempt == 2 else (200, b"{}")

    with (
        callback_server(flaky) as url,
        EventPusher.for_double(
            double, url, encrypt_key=ENCRYPT_KEY, verification_token=TOKEN, timeout=1.0, retry_delays=(0.1, 0.1)
        ) as pusher,
    ):
        record = pusher.wait_delivered(wait_until(lambda: pusher.records and pusher.records[0].event_id))
    assert record.statuses == [None, 503, 200]
    assert len(set(seen)) == 3  # each attempt signed afresh


def test_tickets_expire_with_10012_and_resend_pushes_a_new_one(double):
    pushed: list[str] = []

    def collect(path, headers, body):
        from airflow_provider_feishu_workplace.store_apps.crypto import decrypt

        pushed.append(json.loads(decrypt(json.loads(body)["encrypt"], ENCRYPT_KEY))["event"]["app_ticket"])
        return 200, b"{}"

    double._issuer.ticket_lifetime = 60
    with (
        callback_server(collect) as url,
        EventPusher.for_double(double, url, encrypt_key=ENCRYPT_KEY, verification_token=TOKEN, **FAST),
    ):
        first = wait_until(lambda: pushed and pushed[0])
        assert app_token_code(double, first) == 0
        double.advance_clock(61)
        assert app_token_code(double, first) == 10012
        resend = requests.post(
            f"{double.url}/open-apis/auth/v3/app_ticket/resend",
            json={"app_id": double.store_app_id, "app_secret": double.store_app_secret},
            timeout=5,
        )
        assert resend.json()["code"] == 0
        second = wait_until(lambda: len(pushed) >= 2 and pushed[1])
    assert second != first
    assert app_token_code(double, second) == 0


def test_the_control_api_steers_the_pushes(double):
    from airflow_provider_feishu_workplace.testing._control import Control

    received: list[dict] = []

    def collect(path, headers, body):
        from airflow_provider_feishu_workplace.store_apps.crypto import decrypt

        received.append(json.loads(decrypt(json.loads(body)["encrypt"], ENCRYPT_KEY)))
        return 200, b"{}"

    control = Control(double)

    def call(method, path, body=None):
        headers = {"authorization": f"Bearer {control.token}", "host": "127.0.0.1"}
        reply = control(method, path, {}, headers, json.dumps(body).encode() if body is not None else b"")
        return reply.status, reply.payload

    with callback_server(collect) as url:
        assert call("POST", "/events", {"type": "app_open", "tenant_key": "t"})[0] == 400  # no callback yet
        status, _ = call(
            "POST",
            "/events/callback",
            {"url": url, "encrypt_key": ENCRYPT_KEY, "verification_token": TOKEN, "ticket_lifetime": 5, **FAST},
        )
        assert status == 200
        status, answer = call("POST", "/events", {"type": "app_status_change", "tenant_key": "t", "status": "stop"})
        assert status == 400 and "stop_by_tenant" in answer["error"]
        event_id = call("POST", "/events", {"type": "order_paid", "tenant_key": "t"})[1]["event_id"]
        control.pusher.wait_delivered(event_id)
        events = call("GET", "/events")[1]["events"]
        ticket = next(e["event"]["app_ticket"] for e in received if e["event"]["type"] == "app_ticket")
        assert call("POST", "/tickets/expire")[0] == 200
        control.pusher.stop()
    assert {e["type"] for e in events} >= {"app_ticket", "order_paid"}
    assert all(e["delivered"] for e in events if e["event_id"] == event_id)
    assert app_token_code(double, ticket) == 10012
    assert "tk-" not in json.dumps(events)  # the control API lists events without their tickets
