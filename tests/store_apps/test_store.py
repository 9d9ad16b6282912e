"""The ticket store and the tenant registry on a real Airflow metadata database (the tests' SQLite)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap
import uuid

import pytest

from airflow_provider_feishu_workplace.store_apps import tenants, tickets
from airflow_provider_feishu_workplace.store_apps._keys import tenants_key, ticket_key

T0 = dt.datetime(2026, 12, 5, 8, 0, tzinfo=dt.UTC)


@pytest.fixture
def app_id(airflow_db):
    """A fresh app id per test: its Variables are the test's own."""
    return f"cli_{uuid.uuid4().hex[:16]}"


def stored_text(key: str) -> str | None:
    from airflow.models.variable import Variable

    return Variable.get(key, default_var=None)


def test_no_ticket_before_the_first_push(app_id):
    assert tickets.latest_ticket(app_id) is None


def test_a_saved_ticket_is_read_back_with_when_it_was_pushed(app_id):
    tickets.save_ticket(app_id, "t-1", T0)
    stored = tickets.latest_ticket(app_id)
    assert (stored.ticket, stored.received_at) == ("t-1", T0)
    assert "t-1" not in repr(stored)


def test_an_older_ticket_never_replaces_a_newer_one(app_id):
    tickets.save_ticket(app_id, "newer", T0 + dt.timedelta(hours=1))
    tickets.save_ticket(app_id, "older", T0)
    assert tickets.latest_ticket(app_id).ticket == "newer"
    tickets.save_ticket(app_id, "newest", T0 + dt.timedelta(hours=2))
    assert tickets.latest_ticket(app_id).ticket == "newest"


def test_the_ticket_variable_key_is_one_airflow_masks(app_id):
    from airflow.providers.common.compat.sdk import redact

    tickets.save_ticket(app_id, "masked-ticket", T0)
    key = ticket_key(app_id)
    assert "secret" in key
    assert "masked-ticket" not in str(redact(stored_text(key), key))
    # Airflow 3.0's REST API redacts a JSON value by its own field names only, not by the Variable's key.
    assert "masked-ticket" not in str(redact(json.loads(stored_text(key))))


def test_a_ticket_stored_by_0_2_0_is_still_read(app_id):
    from airflow.models.variable import Variable

    from airflow_provider_feishu_workplace._compat import seal_secret

    value = {"ticket": seal_secret("t-0.2.0"), "received_at": T0.isoformat()}
    Variable.set(ticket_key(app_id), json.dumps(value))
    assert tickets.latest_ticket(app_id) == tickets.StoredTicket("t-0.2.0", T0)


def test_the_ticket_store_refuses_a_naive_time_and_a_bad_app_id(app_id):
    with pytest.raises(ValueError, match="received_at"):
        tickets.save_ticket(app_id, "t", dt.datetime(2026, 12, 5))
    with pytest.raises(ValueError, match="not an app id"):
        tickets.latest_ticket("cli_x/../y")


def test_tenant_events_set_active_and_stopped(app_id):
    tenants.record_tenant_event(app_id, "t-b", "app_open", T0)
    tenants.record_tenant_event(app_id, "t-a", "order_paid", T0)
    tenants.record_tenant_event(app_id, "t-c", "app_open", T0)
    tenants.record_tenant_event(app_id, "t-c", "stop_by_tenant", T0 + dt.timedelta(minutes=1))
    assert tenants.active_tenants(app_id) == ["t-a", "t-b"]
    assert tenants.tenants(app_id)["t-c"] == ("stopped", T0 + dt.timedelta(minutes=1))
    tenants.record_tenant_event(app_id, "t-c", "start_by_tenant", T0 + dt.timedelta(minutes=2))
    tenants.record_tenant_event(app_id, "t-a", "stop_by_platform", T0 + dt.timedelta(minutes=2))
    assert tenants.active_tenants(app_id) == ["t-b", "t-c"]


def test_an_older_tenant_event_does_not_overwrite_a_newer_one(app_id):
    tenants.record_tenant_event(app_id, "t-a", "stop_by_tenant", T0 + dt.timedelta(hours=1))
    tenants.record_tenant_event(app_id, "t-a", "app_open", T0)  # a late redelivery
    assert tenants.tenants(app_id) == {"t-a": ("stopped", T0 + dt.timedelta(hours=1))}


def test_an_unknown_tenant_status_is_refused_by_name(app_id):
    with pytest.raises(ValueError, match="'uninstalled'"):
        tenants.record_tenant_event(app_id, "t-a", "uninstalled", T0)


def test_a_variable_not_written_by_the_provider_is_named_not_shown(app_id):
    from airflow.models.variable import Variable

    Variable.set(tenants_key(app_id), "[not an object]")
    with pytest.raises(ValueError, match=tenants_key(app_id)) as raised:
        tenants.active_tenants(app_id)
    assert "not an object" not in str(raised.value)


WRITER = textwrap.dedent(
    """
    import datetime as dt, sys
    from airflow_provider_feishu_workplace.store_apps import tenants
    app_id, writer, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    for n in range(count):
        tenants.record_tenant_event(app_id, f"{writer}-{n}", "app_open", dt.datetime.now(dt.UTC))
    """
)


def test_concurrent_writers_in_separate_processes_lose_no_tenant(app_id):
    """Three processes (as three API-server replicas would) record tenants of one app at once."""
    import os

    from airflow.configuration import conf

    # The Variable is encrypted: every replica has the deployment's one Fernet key.
    env = {**os.environ, "AIRFLOW__CORE__FERNET_KEY": conf.get("core", "fernet_key")}
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, app_id, f"w{w}", "10"], env=env, stderr=subprocess.PIPE, text=True
        )
        for w in range(3)
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=240)
        assert writer.returncode == 0, err[-2000:]
    assert tenants.active_tenants(app_id) == sorted(f"w{w}-{n}" for w in range(3) for n in range(10))
