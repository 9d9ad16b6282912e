"""A store app end to end: the served double pushes tickets to a real Airflow server's receiver, and a worker
process pulls data with the pushed ticket, then recovers through resend when the ticket expires.

Each pull runs in a fresh Python process with the server's Airflow settings, as a task on a worker does
(no app token cached from before): it reads the ticket the receiver stored in the metadata database.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from airflow_provider_feishu_workplace.testing import served_double
from tests.store_apps.receiver_server import ENCRYPT_KEY, STORE_CONN, TOKEN, receiver_server
from tests.waiting import first_true

PULL = textwrap.dedent(
    """
    import json
    from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook

    hook = FeishuWorkplaceHook("feishu_worker", ticket_wait=30, backoff_base=0.05)
    items = list(hook.iter_workplace_access_data("2026-01-01", "2026-01-02"))
    print(json.dumps({"items": len(items)}))
    """
)


def control(served, method: str, path: str, body: dict | None = None) -> dict:
    return served._control(method, path, body)  # with the run's control token


def pull(server, served) -> tuple[dict, str]:
    env = {**server.env, "AIRFLOW_CONN_FEISHU_WORKER": served.connection("store", extra={"app_ticket_secret": None})}
    done = subprocess.run([sys.executable, "-c", PULL], env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stdout + done.stderr


def wait_for(condition, what: str, timeout: float = 30.0):
    return first_true(condition, timeout) or pytest.fail(f"{what} within {timeout} s")


def test_a_store_app_pulls_with_the_pushed_ticket_and_recovers_an_expired_one_through_resend(tmp_path):
    with (
        served_double("--no-rate-limit") as served,
        receiver_server(tmp_path / "airflow", app_id=served.store_app_id, app_secret=served.store_app_secret) as server,
    ):
        control(
            served,
            "POST",
            "/events/callback",
            {
                "url": server.callback(STORE_CONN),
                "encrypt_key": ENCRYPT_KEY,
                "verification_token": TOKEN,
                "retry_delays": [0.5, 1, 2],
            },
        )
        first = wait_for(lambda: server.ticket(served.store_app_id), "the first pushed ticket stored")

        result, output = pull(server, served)
        assert result["items"] > 0

        control(served, "POST", "/tickets/expire")
        result, output = pull(server, served)  # 10012, resend, the new push, then the pull
        assert result["items"] > 0

        second = server.ticket(served.store_app_id)
        events = control(served, "GET", "/events")["events"]
        resends = control(served, "GET", "/requests?endpoint=app_ticket_resend")["requests"]
        server_log = server.log.read_text(errors="replace")

    assert second != first
    assert [event["type"] for event in events] == ["app_ticket", "app_ticket"]
    assert all(event["delivered"] for event in events)
    assert len(resends) == 1
    assert "10012" in output and "asking Feishu to push a new app_ticket" in output
    leaked = [
        secret
        for secret in (first, second, ENCRYPT_KEY, TOKEN, served.store_app_secret)
        if secret in output + server_log
    ]
    assert not leaked, f"{len(leaked)} secrets in the worker's or the server's log"
