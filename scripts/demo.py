"""The main job, end to end and offline: extract the last 7 days from the bundled Feishu double and load them.

Run by ``make demo``. Everything lives under ``.demo/`` (or ``$FEISHU_DEMO_DIR``): Airflow's home and metadata
database, the lake (JSON Lines files) and the warehouse (SQLite). Running it again gives the same tables.
To use a real Feishu app instead of the double, set AIRFLOW_CONN_FEISHU_DEFAULT before running it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
import time
import warnings
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = Path(os.environ.get("FEISHU_DEMO_DIR", ROOT / ".demo"))
DAYS = 7
TIMEZONE = "Asia/Shanghai"
WAREHOUSE = DEMO / "warehouse.db"


def say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def configure_environment() -> None:
    """Point Airflow at .demo/ and the example DAGs; quiet its logs so the demo's own lines stand out."""
    DEMO.mkdir(exist_ok=True)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(DEMO / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "FEISHU_WORKPLACE_LAKE": f"file://{DEMO / 'lake'}",
            "FEISHU_WORKPLACE_TIMEZONE": TIMEZONE,
            "AIRFLOW_CONN_FEISHU_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(WAREHOUSE)}),
        }
    )


def migrate_metadata_db() -> None:
    say("Preparing Airflow's metadata database (SQLite) ...")
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True)


def start_double(stack: ExitStack) -> None:
    if os.environ.get("AIRFLOW_CONN_FEISHU_DEFAULT"):
        say("Using the Feishu connection in AIRFLOW_CONN_FEISHU_DEFAULT")
        return
    from airflow_provider_feishu_workplace.testing import FeishuDouble

    double = stack.enter_context(FeishuDouble())
    stack.enter_context(double.connection_env("feishu_default"))
    say(f"Started the bundled Feishu double at {double.url}")


def run_pipeline(days: list[dt.date]) -> None:
    import pendulum

    # What differs between Airflow 2.11 and 3.x in parsing and test runs is kept in one module.
    sys.path.insert(0, str(ROOT))
    from tests.airflow_versions import parse_dag_folder, run_dag_test

    # Like Airflow's DAG processor: the DAGs folder goes on sys.path, so the DAGs can share a module.
    bag = parse_dag_folder(ROOT / "dags")
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    extract, load = bag.get_dag("feishu_workplace_extract"), bag.get_dag("feishu_workplace_load")
    for day in days:
        started = time.monotonic()
        # The extract run whose interval starts at 06:00 on `day` pulls `day`.
        interval_end = pendulum.datetime(day.year, day.month, day.day, 6, tz=TIMEZONE).add(days=1)
        extract_run = run_dag_test(extract, logical_date=interval_end)
        load_run = run_dag_test(load, run_conf={"day": day.isoformat()})
        states = {
            ti.task_id: str(ti.state) for ti in [*extract_run.get_task_instances(), *load_run.get_task_instances()]
        }
        if any(state != "success" for state in states.values()):
            raise SystemExit(f"{day}: some tasks did not succeed: {states}")
        say(f"{day}: extracted 3 data sets and loaded them in {time.monotonic() - started:.1f}s")


def show_results() -> None:
    say(f"Lake files under {DEMO / 'lake'}:")
    for path in sorted((DEMO / "lake").rglob("*.jsonl")):
        lines = sum(1 for _ in path.open(encoding="utf-8"))
        print(f"    {path.relative_to(DEMO)}  ({lines} items)")
    say(f"Warehouse tables in {WAREHOUSE}:")
    with sqlite3.connect(WAREHOUSE) as db:
        for table in ("feishu_workplace_access", "feishu_custom_workplace_access", "feishu_block_access"):
            count, first, last = db.execute(f"SELECT COUNT(*), MIN(date), MAX(date) FROM {table}").fetchone()
            print(f"\n    {table}: {count} rows, {first} .. {last}")
            cursor = db.execute(f"SELECT * FROM {table} ORDER BY date DESC LIMIT 3")
            print("    " + " | ".join(column[0] for column in cursor.description))
            for row in cursor:
                print("    " + " | ".join(str(value) for value in row))


def main() -> None:
    warnings.simplefilter("ignore", DeprecationWarning)  # third-party deprecations are not the demo's news
    configure_environment()
    migrate_metadata_db()
    import pendulum

    # The last day defaults to yesterday in the tenant's time zone; FEISHU_DEMO_LAST_DAY pins it (tests).
    last_day = (
        os.environ.get("FEISHU_DEMO_LAST_DAY") or (pendulum.now(TIMEZONE).date() - dt.timedelta(days=1)).isoformat()
    )
    last = dt.date.fromisoformat(last_day)
    days = [last - dt.timedelta(days=offset) for offset in range(DAYS - 1, -1, -1)]
    say(f"Pulling and loading {days[0]} .. {days[-1]} ({TIMEZONE} calendar days)")
    started = time.monotonic()
    with ExitStack() as stack:
        start_double(stack)
        run_pipeline(days)
    show_results()
    say(f"Done in {time.monotonic() - started:.0f}s. Run it again: the tables come out the same.")


if __name__ == "__main__":
    main()
