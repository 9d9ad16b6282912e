"""Concurrent loads of one day, in real processes, on PostgreSQL and SQLite: no error, one whole result.

Each process is what a load task does: it creates the tables if missing and replaces one day with its own
rows, through the real Airflow hook of the warehouse connection. The processes wait at a barrier, so their
transactions overlap; each yields its rows slowly, between its DELETE and its INSERTs.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from tests.starting_gate import run_together

REPO_ROOT = Path(__file__).resolve().parents[2]
WRITERS = 5
ROWS = 300
DAY = "2026-10-01"

WRITER = """
import os, sys, time
from pathlib import Path
sys.path.insert(0, {dags!r})
from airflow.providers.common.compat.sdk import BaseHook
from feishu_workplace_tables import TABLES, ensure_tables, replace_day

number, barrier = int(sys.argv[1]), Path(sys.argv[2])
hook = BaseHook.get_connection("feishu_warehouse").get_hook()
table = TABLES["block"]
(barrier / f"ready-{{number}}").touch()
while not (barrier / "go").exists():
    time.sleep(0.005)

def rows():
    for index in range({rows}):
        if index % 100 == 0:
            time.sleep(0.1)  # a slow reader: the writers' transactions start at staggered times
        yield ({day!r}, f"blk_{{index:04d}}", number, index)
    yield ("2026-10-02", "blk_other_day", number, 0)  # another day of a two-day file: left out

ensure_tables(hook, table)
count = replace_day(hook, table, {day!r}, rows, source=f"writer-{{number}}", fingerprint=f"fp-{{number}}",
                    unless_loaded=False, file_days=({day!r}, "2026-10-02"))
print(count)
"""


def run_writers(tmp_path: Path, connection: str) -> list[subprocess.CompletedProcess]:
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(dags=str(REPO_ROOT / "dags"), rows=ROWS, day=DAY))
    gate = tmp_path / "barrier"
    commands = [[sys.executable, str(script), str(number), str(gate)] for number in range(WRITERS)]
    return run_together(commands, gate, {**os.environ, "AIRFLOW_CONN_FEISHU_WAREHOUSE": connection}, timeout=180)


def check(results, rows: list[tuple], state: list[tuple]) -> None:
    failures = [r.stderr[-1500:] for r in results if r.returncode != 0]
    assert failures == []
    assert [r.stdout.strip().splitlines()[-1] for r in results] == [str(ROWS)] * WRITERS
    writers = {row[2] for row in rows}
    assert len(writers) == 1, f"rows of several writers mixed: {writers}"
    (winner,) = writers
    assert sorted(rows) == [(DAY, f"blk_{index:04d}", winner, index) for index in range(ROWS)]
    assert state == [("feishu_block_access", DAY, f"writer-{winner}", f"fp-{winner}", ROWS)]


def test_concurrent_loads_of_one_day_on_sqlite_leave_one_whole_result(tmp_path):
    warehouse = tmp_path / "warehouse.db"
    connection = json.dumps({"conn_type": "sqlite", "host": str(warehouse)})

    results = run_writers(tmp_path, connection)

    with closing(sqlite3.connect(warehouse)) as db:
        rows = db.execute("SELECT date, block_id, pv, uv FROM feishu_block_access").fetchall()
        state = db.execute("SELECT table_name, day, source, fingerprint, row_count FROM feishu_load_state").fetchall()
    check(results, rows, state)


def test_concurrent_loads_of_one_day_on_postgresql_leave_one_whole_result(tmp_path, postgres_uri):
    import psycopg2

    def drop():
        with closing(psycopg2.connect(postgres_uri)) as db, db.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS feishu_block_access, feishu_load_state")
            db.commit()

    drop()  # the writers race to create the tables too
    try:
        results = run_writers(tmp_path, postgres_uri)

        with closing(psycopg2.connect(postgres_uri)) as db, db.cursor() as cursor:
            cursor.execute("SELECT date::text, block_id, pv, uv FROM feishu_block_access")
            rows = cursor.fetchall()
            cursor.execute("SELECT table_name, day::text, source, fingerprint, row_count FROM feishu_load_state")
            state = cursor.fetchall()
    finally:
        drop()
    check(results, rows, state)


@pytest.fixture(autouse=True)
def _no_airflow_home_leak(monkeypatch):
    # The writers read connections from the environment only: no metadata database is needed.
    monkeypatch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
