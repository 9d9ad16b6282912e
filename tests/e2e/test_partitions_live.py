"""The partition stage of ``make e2e`` (Airflow 3.2+): one Feishu day = one asset partition, for real.

README's ``airflow backfill create`` of the extract for five days makes one partitioned run per day; the
scheduler starts the load once per day all three data sets have, and each such run loads exactly its day.
A rerun of one day's extract leads to exactly one more load of that day. The stage reports the loads per
partition and the sweep runs (scheduled or manual loads) the warehouse needed to equal the double: none.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter

import pendulum
import pytest

from airflow_provider_feishu_workplace._compat import ASSET_PARTITIONS
from tests.e2e import live
from tests.e2e.conftest import REPORT

pytestmark = [
    pytest.mark.timeout(900),
    pytest.mark.skipif(not ASSET_PARTITIONS, reason="asset partitions came with Airflow 3.2"),
]

TIMEZONE = os.environ.get("FEISHU_WORKPLACE_TIMEZONE", "Asia/Shanghai")
# Days no other stage pulls: a partition's events count across runs, so each stage keeps to days of its own.
PARTITION_DAYS = live.days_before(pendulum.now(TIMEZONE).date(), 24, 20)
README = (live.ROOT / "README.md").read_text()


def _last_run_id(live_stack) -> int:
    return live_stack.query("SELECT coalesce(max(id), 0) FROM dag_run")[0][0]


def _load_runs_since(live_stack, first_id: int) -> list[tuple[str | None, str, str]]:
    """(partition_key, run_type, state) of the load's runs made after run ``first_id``."""
    return live_stack.query(
        "SELECT partition_key, run_type, state FROM dag_run WHERE dag_id = %s AND id > %s ORDER BY id",
        (live.LOAD, first_id),
    )


def _warehouse_equals_the_double(live_stack) -> bool:
    problems = live.compare_warehouse(live_stack, live.DoubleData(live_stack))["problems"]
    assert not problems, problems
    return True


def test_partitioned_backfill_loads_each_day_once_and_a_rerun_once_more_without_a_sweep(live_stack):
    live_stack.wait_quiet(timeout=300, settle=5)
    first_id = _last_run_id(live_stack)
    (command, *_) = live.readme_backfill_commands(README)

    live_stack.shell(live.with_days(command, PARTITION_DAYS[0], PARTITION_DAYS[-1]))
    live.wait_for(
        "the partitioned backfill's runs",
        lambda: (
            len(live_stack.query("SELECT 1 FROM dag_run WHERE dag_id = %s AND id > %s", (live.EXTRACT, first_id)))
            == len(PARTITION_DAYS)
        ),
        timeout=120,
    )
    live_stack.wait_quiet(timeout=480)

    extract_runs = live_stack.query(
        "SELECT run_id, partition_key, state FROM dag_run WHERE dag_id = %s AND id > %s ORDER BY partition_key",
        (live.EXTRACT, first_id),
    )
    assert [(key, state) for _, key, state in extract_runs] == [(day, "success") for day in PARTITION_DAYS]
    loads = _load_runs_since(live_stack, first_id)
    per_partition = Counter(key for key, run_type, _ in loads if run_type == "asset_triggered")
    assert per_partition == dict.fromkeys(PARTITION_DAYS, 1), loads
    assert all(state == "success" for _, _, state in loads), loads
    live.wait_for(
        "every lake day in the warehouse, equal to the double's",
        lambda: _warehouse_equals_the_double(live_stack),
        60,
        5,
    )

    # A rerun of one day's extract: exactly one more load, of that day.
    rerun_id, rerun_day = next((run_id, key) for run_id, key, _ in extract_runs if key == PARTITION_DAYS[2])
    live_stack.rest(
        "POST",
        f"/api/v2/dags/{live.EXTRACT}/clearTaskInstances",
        {"dag_run_id": rerun_id, "dry_run": False, "only_failed": False, "reset_dag_runs": True},
    )
    live.wait_for(
        f"the rerun of {rerun_day}'s extract",
        lambda: Counter(key for key, run_type, _ in _load_runs_since(live_stack, first_id))[rerun_day] == 2,
        timeout=480,
        interval=5,
    )
    live_stack.wait_quiet(timeout=480)

    loads = _load_runs_since(live_stack, first_id)
    per_partition = Counter(key for key, run_type, _ in loads if run_type == "asset_triggered")
    assert per_partition == {**dict.fromkeys(PARTITION_DAYS, 1), rerun_day: 2}, loads
    sweeps = [run for run in loads if run[1] != "asset_triggered"]
    assert sweeps == [], f"load runs that were not one partition's: {sweeps}"
    live.wait_for(
        "the warehouse equal to the double after the rerun", lambda: _warehouse_equals_the_double(live_stack), 60, 5
    )
    REPORT.append(
        f"partitions: README's backfill for {PARTITION_DAYS[0]}..{PARTITION_DAYS[-1]} made {len(extract_runs)} "
        f"partitioned extract runs; loads per partition {dict(sorted(per_partition.items()))} (one more for the "
        f"rerun of {rerun_day}); sweep runs needed: {len(sweeps)}; the warehouse equals the double "
        f"(checked {dt.datetime.now(dt.UTC):%H:%M:%S} UTC)"
    )
