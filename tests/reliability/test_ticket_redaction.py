"""The store app's ticket is hidden by Airflow like the App Secret: in the REST API and so in the UI's edit form.

Airflow hides a connection extra whose key holds one of its sensitive names ("secret", "password",
"token", ...; ``should_hide_value_for_key``). The ticket's extra is ``app_ticket_secret``. A real
``airflow api-server`` on loopback stores a store-app connection created through
``POST /api/v2/connections``; ``GET /api/v2/connections/{id}`` (what the React UI's edit form shows)
must not give the ticket back, and the hook must still read it and get a token from the double.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from airflow_provider_feishu_workplace.hooks._app_settings import APP_TICKET_KEY
from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook
from tests.airflow_versions import AIRFLOW_V_3_0_PLUS, API_SERVER_ENV, skip_unless
from tests.loopback import free_port

TICKET = "ticket-canary-6c1d0b9e"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
# The server and the CLI that reads its rows back share one Fernet key (unit-test mode makes one per process).
SERVER_ENV = {
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
    "AIRFLOW__CORE__FERNET_KEY": "l6t3U8g3kP2cN4JmXvVZ0p1eLhYq7oWsR5dTfGbHcIk=",
    **API_SERVER_ENV,
}


@pytest.fixture(scope="module")
def api_server(airflow_db, tmp_path_factory):
    """``airflow api-server`` on 127.0.0.1 (every user an admin); yields its URL and an API token."""
    skip_unless(AIRFLOW_V_3_0_PLUS, "the REST API is /api/v1 in the FAB webserver before Airflow 3.0")
    port = free_port()
    log = tmp_path_factory.mktemp("api") / "api-server.log"
    env = {**os.environ, **SERVER_ENV}
    with open(log, "wb") as output:
        server = subprocess.Popen(
            [AIRFLOW, "api-server", "-H", "127.0.0.1", "-p", str(port), "--workers", "1", "--apps", "core"],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if server.poll() is not None:
                pytest.fail(f"airflow api-server exited with {server.returncode}:\n{log.read_text()[-3000:]}")
            try:
                answer = requests.get(f"{url}/auth/token", timeout=2)
                if answer.status_code in (200, 201):
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"airflow api-server did not answer in 180 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url, answer.json()["access_token"]
    finally:
        os.killpg(server.pid, 15)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait(timeout=30)


def create(api_server, conn_id: str, extra: dict, password: str) -> dict:
    url, token = api_server
    headers = {"Authorization": f"Bearer {token}"}
    requests.delete(f"{url}/api/v2/connections/{conn_id}", headers=headers, timeout=30)
    body = {
        "connection_id": conn_id,
        "conn_type": "feishu",
        "login": "cli_store",
        "password": password,
        "host": "https://open.feishu.cn",
        "extra": json.dumps(extra),
    }
    created = requests.post(f"{url}/api/v2/connections", json=body, headers=headers, timeout=30)
    assert created.status_code == 201, created.text
    read = requests.get(f"{url}/api/v2/connections/{conn_id}", headers=headers, timeout=30)
    assert read.status_code == 200, read.text
    return read.json()


def test_the_ticket_is_redacted_in_the_rest_api_like_the_app_secret(api_server):
    extra = {"app_type": "store", APP_TICKET_KEY: TICKET, "tenant_key": "tenant-1"}

    shown = create(api_server, "feishu_store_api", extra, password="secret-canary-99")

    assert shown["password"] == "***"
    shown_extra = json.loads(shown["extra"])
    assert shown_extra[APP_TICKET_KEY] == "***"
    assert shown_extra["tenant_key"] == "tenant-1"  # not a secret: still readable
    assert TICKET not in json.dumps(shown)


def test_the_list_endpoint_hides_the_ticket_too(api_server):
    url, token = api_server
    create(api_server, "feishu_store_list", {"app_type": "store", APP_TICKET_KEY: TICKET, "tenant_key": "t"}, "pw")

    listed = requests.get(f"{url}/api/v2/connections", headers={"Authorization": f"Bearer {token}"}, timeout=30)

    assert listed.status_code == 200
    assert "feishu_store_list" in listed.text
    assert TICKET not in listed.text


def test_a_connection_saved_through_the_api_works_with_the_hook(api_server, feishu_double, monkeypatch):
    """The hook reads the ticket from the stored key, and the double issues a token for it."""
    url, token = api_server
    headers = {"Authorization": f"Bearer {token}"}
    conn_id = "feishu_store_hook"
    requests.delete(f"{url}/api/v2/connections/{conn_id}", headers=headers, timeout=30)
    body = {
        "connection_id": conn_id,
        "conn_type": "feishu",
        "login": feishu_double.store_app_id,
        "password": feishu_double.store_app_secret,
        "host": feishu_double.url,
        "extra": json.dumps(
            {"app_type": "store", APP_TICKET_KEY: feishu_double.app_ticket, "tenant_key": feishu_double.tenant_key}
        ),
    }
    assert requests.post(f"{url}/api/v2/connections", json=body, headers=headers, timeout=30).status_code == 201
    # Hooks outside a task read connections from secrets backends (the environment here): hand the stored
    # row over as Airflow's own CLI reads it from the metadata database.
    shown = subprocess.run(
        [AIRFLOW, "connections", "get", conn_id, "-o", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **SERVER_ENV},
        check=True,
    ).stdout
    stored = json.loads(shown[shown.index("[{") :])[0]
    as_stored = {key: stored[key] for key in ("conn_type", "host", "login", "password")}
    as_stored["extra"] = (
        json.loads(stored["extra_dejson"]) if isinstance(stored["extra_dejson"], str) else (stored["extra_dejson"])
    )
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(as_stored))

    hook = FeishuWorkplaceHook(conn_id)
    assert hook.get_tenant_access_token().startswith("t-")
    assert hook.settings.app_ticket == feishu_double.app_ticket


def test_the_connection_form_declares_the_ticket_under_the_hidden_key():
    from airflow_provider_feishu_workplace.get_provider_info import get_provider_info

    fields = get_provider_info()["connection-types"][0]["conn-fields"]

    assert APP_TICKET_KEY in fields and "app_ticket" not in fields
    assert fields[APP_TICKET_KEY]["schema"]["format"] == "password"


@pytest.mark.parametrize("key", [APP_TICKET_KEY, "app_ticket"])
def test_the_hook_reads_the_ticket_under_the_new_and_the_earlier_key(key, feishu_double, monkeypatch):
    extra = {"app_type": "store", key: feishu_double.app_ticket, "tenant_key": feishu_double.tenant_key}
    monkeypatch.setenv(
        "AIRFLOW_CONN_FEISHU_DEFAULT",
        json.dumps(
            {
                "conn_type": "feishu",
                "host": feishu_double.url,
                "login": feishu_double.store_app_id,
                "password": feishu_double.store_app_secret,
                "extra": extra,
            }
        ),
    )

    assert FeishuWorkplaceHook().get_tenant_access_token().startswith("t-")


def test_airflow_hides_the_new_key_and_would_not_hide_the_earlier_one():
    """Why the key changed: Airflow's own rule, on this version."""
    from airflow.providers.common.compat.sdk import redact

    assert redact({APP_TICKET_KEY: TICKET, "app_ticket": TICKET}) == {APP_TICKET_KEY: "***", "app_ticket": TICKET}
