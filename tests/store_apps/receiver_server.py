"""A real Airflow web server serving the provider's plugin: ``airflow api-server`` on Airflow 3, ``airflow
webserver`` on 2.11, on 127.0.0.1, with an AIRFLOW_HOME, SQLite database and Fernet key of its own.

Connections ``feishu_store`` (with an Encrypt Key) and ``feishu_plain`` (without) are added before it starts.
What the receiver stored is read straight from the server's database (decrypted with its Fernet key);
the server process is stopped by its session id.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.airflow_versions import AIRFLOW_V_3_0_PLUS
from tests.browser.airflow_ui import _run, airflow_service, answers_health, free_port, server_env

APP_ID = "cli_store0123456789"
APP_SECRET = "store-app-secret-0123456789"
ENCRYPT_KEY = "encrypt-key-0123456789abcdef"
TOKEN = "verification-token-0123456789"
STORE_CONN, PLAIN_CONN = "feishu_store", "feishu_plain"
SECRETS = (APP_SECRET, ENCRYPT_KEY, TOKEN)
# Airflow 2.11's REST API takes basic auth from a user of the session (Airflow 3: every user is an admin).
USER, PASSWORD = "admin", "admin-password-0123456789"


def connection_json(*, encrypt_key: str | None, app_id: str = APP_ID, app_secret: str = APP_SECRET) -> str:
    extra = {"app_type": "store", "verification_token": TOKEN}
    if encrypt_key:
        extra["encrypt_key_secret"] = encrypt_key
    return json.dumps({"conn_type": "feishu", "login": app_id, "password": app_secret, "extra": extra})


@dataclass
class ReceiverServer:
    """The running server: where to post, its environment (for CLI calls) and its log."""

    url: str
    env: dict[str, str]
    home: Path
    log: Path

    def callback(self, conn_id: str) -> str:
        return f"{self.url}/feishu/events/{conn_id}"

    def _decrypt(self, text: str) -> str:
        from cryptography.fernet import Fernet

        return Fernet(self.env["AIRFLOW__CORE__FERNET_KEY"].encode()).decrypt(text.encode()).decode()

    def variable(self, key: str) -> str | None:
        """The Variable's value as Airflow holds it, decrypted with the server's Fernet key."""
        with contextlib.closing(sqlite3.connect(self.home / "airflow.db", timeout=30)) as db:
            row = db.execute("SELECT val, is_encrypted FROM variable WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        val, encrypted = row
        return self._decrypt(val) if encrypted else val

    def ticket(self, app_id: str) -> str | None:
        """The app's stored ticket (on Airflow 2 sealed once more inside the value, for its REST API)."""
        from airflow_provider_feishu_workplace.store_apps._keys import ticket_key

        value = self.variable(ticket_key(app_id))
        if value is None:
            return None
        sealed = json.loads(value)["app_ticket_secret"]
        return sealed if AIRFLOW_V_3_0_PLUS else self._decrypt(sealed)

    def rest(self, path: str) -> str:
        """A REST API answer's text (``path`` after ``/api/v2`` or ``/api/v1``), as an admin."""
        if AIRFLOW_V_3_0_PLUS:
            token = requests.get(f"{self.url}/auth/token", timeout=30).json()["access_token"]
            answer = requests.get(f"{self.url}/api/v2{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        else:
            answer = requests.get(f"{self.url}/api/v1{path}", auth=(USER, PASSWORD), timeout=30)
        answer.raise_for_status()
        return answer.text

    def raw_variable_columns(self) -> str:
        """Every Variable row's plain columns, as text (for checks that no secret sits there in clear)."""
        with contextlib.closing(sqlite3.connect(self.home / "airflow.db", timeout=30)) as db:
            return repr(db.execute("SELECT * FROM variable").fetchall())


@contextlib.contextmanager
def receiver_server(home: Path, *, app_id: str = APP_ID, app_secret: str = APP_SECRET) -> Iterator[ReceiverServer]:
    """Prepare ``home`` (database, both connections), start the server, yield it, stop it.

    :param app_id: and ``app_secret``: the store app the connections are for.
    """
    home.mkdir(parents=True, exist_ok=True)
    (home / "dags").mkdir(exist_ok=True)
    env = server_env(home)
    log = home / "server.log"
    _run(["db", "migrate"], env, log)
    for conn_id, key in ((STORE_CONN, ENCRYPT_KEY), (PLAIN_CONN, None)):
        conn = connection_json(encrypt_key=key, app_id=app_id, app_secret=app_secret)
        _run(["connections", "add", conn_id, "--conn-json", conn], env, log)
    if not AIRFLOW_V_3_0_PLUS:
        _run(
            ["users", "create", "-u", USER, "-p", PASSWORD, "-r", "Admin", "-f", "A", "-l", "U", "-e", "a@example.com"],
            env,
            log,
        )
    port = free_port()
    command = [
        "api-server" if AIRFLOW_V_3_0_PLUS else "webserver",
        "-H",
        "127.0.0.1",
        "-p",
        str(port),
        "--workers",
        "1",
    ]
    url = f"http://127.0.0.1:{port}"
    health = f"{url}/api/v2/monitor/health" if AIRFLOW_V_3_0_PLUS else f"{url}/health"
    with airflow_service(command, env, log, ready=lambda: answers_health(health)):
        yield ReceiverServer(url=url, env=env, home=home, log=log)
