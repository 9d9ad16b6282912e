"""Secrets audit: run the example pipeline with canary secrets, then search everything that was kept.

The app secret, the app ticket and every token the double issued must appear nowhere: not in the task
logs, the metadata database (XCom, rendered template fields, serialized DAGs included), the lake or the
warehouse.
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from airflow_provider_feishu_workplace.testing import FeishuDouble
from tests.airflow_versions import ASSET_EVENT_TABLE
from tests.dag_runs import EXAMPLE_DAY as DAY

CANARY_SECRET = "canary-secret-7f3a9c1e5b"
CANARY_TICKET = "canary-ticket-2d8e6b4f0a"


@pytest.fixture
def canary_double(examples, monkeypatch):
    """A store app with canary credentials, used by the example DAGs instead of the default double."""
    with FeishuDouble(store_app_secret=CANARY_SECRET, app_ticket=CANARY_TICKET) as double:
        connection = {
            "conn_type": "feishu",
            "host": double.url,
            "login": double.store_app_id,
            "password": CANARY_SECRET,
            "extra": {"app_type": "store", "app_ticket_secret": CANARY_TICKET, "tenant_key": double.tenant_key},
        }
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", json.dumps(connection))
        yield double


def files_under(*roots: Path) -> list[Path]:
    return [path for root in roots if root.exists() for path in root.rglob("*") if path.is_file()]


def metadata_rows_as_text(database: Path) -> str:
    """The tables most likely to hold a leak, decoded as text (the raw file is searched as well)."""
    chunks = []
    with closing(sqlite3.connect(database)) as db:
        for table in (
            "xcom",
            "rendered_task_instance_fields",
            "serialized_dag",
            "task_instance",
            "log",
            ASSET_EVENT_TABLE,
        ):
            for row in db.execute(f"SELECT * FROM {table}"):
                chunks.append(repr(row))
    return "\n".join(chunks)


def test_no_secret_or_token_is_kept_anywhere(examples, canary_double, capfd, figures):
    from airflow.configuration import conf

    # Faults make the hook log warnings and renew its token: more text, and more tokens, to leak.
    canary_double.inject("rate_limit", endpoint="block")
    canary_double.inject("token_expired", endpoint="custom_workplace")
    canary_double.inject("server_error", endpoint="token")

    extract_states = examples.run_extract(DAY)
    load_states = examples.run_load(DAY)
    captured = capfd.readouterr()

    assert set(extract_states.values()) == set(load_states.values()) == {"success"}
    secrets = {"app secret": CANARY_SECRET, "app ticket": CANARY_TICKET}
    secrets.update({f"token {token[:6]}...": token for token in canary_double.issued_tokens})
    assert len(canary_double.issued_tokens) >= 3  # app token, tenant token, and the renewed tenant token

    airflow_home = Path(os.environ["AIRFLOW_HOME"])
    database = Path(conf.get("database", "sql_alchemy_conn").removeprefix("sqlite:///"))
    searched = {
        "task logs (stdout/stderr)": captured.out + captured.err,
        "metadata tables": metadata_rows_as_text(database),
    }
    kept_files = files_under(airflow_home, examples.lake_dir, examples.lake_dir.parent / "warehouse.db")
    for path in kept_files:
        searched[str(path)] = path.read_bytes().decode("utf-8", "replace")

    leaks = [(name, where) for name, secret in secrets.items() for where, text in searched.items() if secret in text]
    assert leaks == []
    assert "Pulled" in captured.out  # the logs were really captured
    figures(
        "secrets_audit",
        "searched",
        {"secrets": len(secrets), "files": len(kept_files), "text sources": len(searched), "hits": len(leaks)},
    )
