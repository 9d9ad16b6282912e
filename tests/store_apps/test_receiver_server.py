"""The event receiver through a real Airflow server process (API server on 3.x, webserver on 2.11).

The deliveries are built as the platform builds them (:mod:`airflow_provider_feishu_workplace.testing._events`)
and posted over loopback to ``/feishu/events/{conn_id}``, with no login and no CSRF token, as the platform posts.
"""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from airflow_provider_feishu_workplace.store_apps._keys import tenants_key, ticket_key
from airflow_provider_feishu_workplace.store_apps.receiver import MAX_BODY_BYTES
from airflow_provider_feishu_workplace.testing._events import deliver, envelope, handshake
from tests.store_apps.receiver_server import (
    APP_ID,
    ENCRYPT_KEY,
    PLAIN_CONN,
    SECRETS,
    STORE_CONN,
    TOKEN,
    receiver_server,
)

REFUSED = {"msg": "refused"}
TICKETS: list[str] = []  # every ticket pushed in this module: none may reach the server's log


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with receiver_server(tmp_path_factory.mktemp("receiver") / "airflow") as running:
        yield running


def post(server, conn_id, delivery, **kwargs):
    return requests.post(server.callback(conn_id), data=delivery.body, headers=delivery.headers, timeout=10, **kwargs)


def new_ticket() -> str:
    TICKETS.append(f"t-{uuid.uuid4().hex}")
    return TICKETS[-1]


def ticket_event(ticket: str, **kwargs) -> dict:
    return envelope("app_ticket", {"app_ticket": ticket}, app_id=APP_ID, token=TOKEN, **kwargs)


def stored_ticket(server) -> str | None:
    return server.ticket(APP_ID)


def stored_tenants(server) -> dict:
    value = server.variable(tenants_key(APP_ID))
    return json.loads(value)["tenants"] if value else {}


@pytest.mark.parametrize(
    ("conn_id", "key"), [(STORE_CONN, ENCRYPT_KEY), (PLAIN_CONN, None)], ids=["encrypted", "plain"]
)
def test_the_url_handshake_is_answered_with_the_challenge_within_a_second(server, conn_id, key):
    delivery = deliver(handshake("challenge-123", TOKEN), encrypt_key=key)
    started = time.monotonic()
    answer = post(server, conn_id, delivery)
    assert (answer.status_code, answer.json()) == (200, {"challenge": "challenge-123"})
    assert time.monotonic() - started < 1


def test_an_encrypted_ticket_push_is_stored_encrypted_in_the_masked_variable(server):
    ticket = new_ticket()
    answer = post(server, STORE_CONN, deliver(ticket_event(ticket), encrypt_key=ENCRYPT_KEY))
    assert answer.status_code == 200
    assert stored_ticket(server) == ticket
    assert ticket not in server.raw_variable_columns()


def test_a_plain_tenant_event_is_recorded_in_the_registry(server):
    event = envelope("app_open", {"tenant_key": "tenant-plain"}, app_id=APP_ID, token=TOKEN)
    assert post(server, PLAIN_CONN, deliver(event, encrypt_key=None)).status_code == 200
    assert stored_tenants(server)["tenant-plain"]["status"] == "active"
    stop = envelope(
        "app_status_change", {"tenant_key": "tenant-plain", "status": "stop_by_tenant"}, app_id=APP_ID, token=TOKEN
    )
    assert post(server, STORE_CONN, deliver(stop, encrypt_key=ENCRYPT_KEY)).status_code == 200
    assert stored_tenants(server)["tenant-plain"]["status"] == "stopped"


def _bad_signature(delivery):
    delivery.headers["X-Lark-Signature"] = "0" * 64
    return delivery


def _oversize(_delivery):
    padded = ticket_event(new_ticket())
    padded["event"]["padding"] = "x" * MAX_BODY_BYTES
    return deliver(padded, encrypt_key=ENCRYPT_KEY)


REFUSALS = {
    "bad-signature": (lambda ticket: deliver(ticket_event(ticket), encrypt_key=ENCRYPT_KEY), _bad_signature, 401),
    "wrong-token": (
        lambda ticket: deliver(
            envelope("app_ticket", {"app_ticket": ticket}, app_id=APP_ID, token="not-the-token"),
            encrypt_key=ENCRYPT_KEY,
        ),
        lambda delivery: delivery,
        401,
    ),
    "oversize-body": (lambda ticket: deliver(ticket_event(ticket), encrypt_key=ENCRYPT_KEY), _oversize, 413),
    "stale-timestamp": (
        lambda ticket: deliver(ticket_event(ticket), encrypt_key=ENCRYPT_KEY, timestamp=str(int(time.time()) - 301)),
        lambda delivery: delivery,
        401,
    ),
    "future-timestamp": (
        lambda ticket: deliver(ticket_event(ticket), encrypt_key=ENCRYPT_KEY, timestamp=str(int(time.time()) + 301)),
        lambda delivery: delivery,
        401,
    ),
    "unsigned-event": (
        lambda ticket: deliver(ticket_event(ticket), encrypt_key=ENCRYPT_KEY, sign=False),
        lambda delivery: delivery,
        401,
    ),
}


@pytest.mark.parametrize(("build", "spoil", "status"), list(REFUSALS.values()), ids=list(REFUSALS))
def test_a_refused_delivery_gets_a_4xx_without_detail_and_stores_nothing(server, build, spoil, status):
    before = stored_ticket(server)
    answer = post(server, STORE_CONN, spoil(build(new_ticket())))
    assert (answer.status_code, answer.json()) == (status, REFUSED)
    assert stored_ticket(server) == before


def test_an_unknown_connection_is_refused(server):
    answer = post(server, "no_such_conn", deliver(ticket_event(new_ticket()), encrypt_key=ENCRYPT_KEY))
    assert (answer.status_code, answer.json()) == (404, REFUSED)


def test_a_redelivery_is_answered_and_not_handled_again(server):
    event_id = uuid.uuid4().hex
    delivery = deliver(ticket_event(new_ticket(), event_id=event_id), encrypt_key=ENCRYPT_KEY)
    assert post(server, STORE_CONN, delivery).status_code == 200
    redelivered = deliver(ticket_event(TICKETS[-1], event_id=event_id), encrypt_key=ENCRYPT_KEY)  # new nonce, same uuid
    assert post(server, STORE_CONN, redelivered).status_code == 200
    handled = [line for line in server.log.read_text().splitlines() if event_id in line]
    assert len(handled) == 2 and "app ticket stored" in handled[0] and "redelivery" in handled[1], handled


def test_an_older_push_arriving_late_does_not_replace_the_newer_ticket(server):
    newer, older = new_ticket(), new_ticket()
    assert post(server, STORE_CONN, deliver(ticket_event(newer), encrypt_key=ENCRYPT_KEY)).status_code == 200
    late = ticket_event(older, ts=time.time() - 120)
    assert post(server, STORE_CONN, deliver(late, encrypt_key=ENCRYPT_KEY)).status_code == 200
    assert stored_ticket(server) == newer


def test_a_burst_of_100_events_is_answered_and_recorded(server):
    events = [envelope("app_open", {"tenant_key": f"burst-{n:03d}"}, app_id=APP_ID, token=TOKEN) for n in range(100)]
    deliveries = [deliver(event, encrypt_key=ENCRYPT_KEY) for event in events]
    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(lambda delivery: post(server, STORE_CONN, delivery).status_code, deliveries))
    assert statuses == [200] * 100
    burst = {key for key, entry in stored_tenants(server).items() if key.startswith("burst-")}
    assert burst == {f"burst-{n:03d}" for n in range(100)}


def test_zz_the_rest_api_shows_no_ticket_key_or_token(server):
    """Runs after the pushes above (by name): the Variables and the connections as the REST API shows them."""
    shown = server.rest("/variables") + server.rest(f"/connections/{STORE_CONN}")
    assert ticket_key(APP_ID) in shown  # the ticket's Variable is listed, its value masked
    leaked = [secret for secret in (*SECRETS, *TICKETS) if secret in shown]
    assert not leaked, f"{len(leaked)} secrets in the REST API's answers"


def test_zz_no_secret_or_ticket_reaches_the_servers_log(server):
    """Runs last in the module (by name): every delivery above was logged by then."""
    log = server.log.read_text(errors="replace")
    assert "Feishu event" in log  # the receiver did log what it received
    leaked = [secret for secret in (*SECRETS, *TICKETS) if secret in log]
    assert not leaked, f"{len(leaked)} secrets in the server's log"
