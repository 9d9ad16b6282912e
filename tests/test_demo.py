"""``make demo``'s script, end to end in a fresh process: it loads 7 days, and a second run changes nothing."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parent.parent / "scripts" / "demo.py"
TABLES = {"feishu_workplace_access": 7, "feishu_custom_workplace_access": 21, "feishu_block_access": 35}


def run_demo(demo_dir: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "FEISHU_WORKPLACE"))}
    env["FEISHU_DEMO_DIR"] = str(demo_dir)
    env["FEISHU_DEMO_LAST_DAY"] = "2026-10-07"  # the same days however long the test takes
    result = subprocess.run([sys.executable, str(DEMO)], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def table_contents(warehouse: Path) -> dict[str, list[tuple]]:
    with closing(sqlite3.connect(warehouse)) as db:
        return {table: db.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall() for table in TABLES}


@pytest.mark.slow
def test_demo_loads_seven_days_and_a_second_run_gives_the_same_tables(tmp_path):
    first_output = run_demo(tmp_path)
    first = table_contents(tmp_path / "warehouse.db")

    second_output = run_demo(tmp_path)

    assert {table: len(rows) for table, rows in first.items()} == TABLES
    assert table_contents(tmp_path / "warehouse.db") == first
    for output in (first_output, second_output):
        assert "Started the bundled Feishu double" in output
        assert "feishu_block_access: 35 rows" in output
        assert "block_access/dt=2026-10-01/part.jsonl" in output
        assert "Pulling and loading 2026-10-01 .. 2026-10-07" in output
