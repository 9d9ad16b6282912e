"""Daily extract: yesterday's Feishu Workplace access data into the lake, one file per data set and day.

With partitions (FEISHU_WORKPLACE_PARTITIONS: on by default from Airflow 3.3) each run is one asset
partition: it carries its day as partition key (``YYYY-MM-DD``), pulls that day, and its asset events name
it, so the load runs once for the day (docs/partitions.md); backfill with ``airflow backfill create --dag-id
feishu_workplace_extract --from-date ... --to-date ...``. Without partitions a scheduled or backfill run
pulls the day its data interval covers. A manual run pulls the day given in its configuration,
``{"day": "YYYY-MM-DD"}`` (Airflow 3 takes a manual run's data interval from the trigger time, not from its
logical date); without one it pulls the day before it started.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.providers.common.compat.sdk import DAG, Param
from feishu_workplace_config import (
    FEISHU_CONN_ID,
    LAKE_CONN_ID,
    POOL,
    RANGE_PARTITIONS,
    TIMEZONE,
    extract_schedule,
    failure_alert,
    lake_path,
)

from airflow_provider_feishu_workplace.days import partition_day, run_days
from airflow_provider_feishu_workplace.operators.feishu_workplace import (
    FeishuCustomWorkplaceAccessOperator,
    FeishuWorkplaceAccessOperator,
    FeishuWorkplaceBlockAccessOperator,
)
from airflow_provider_feishu_workplace.sensors.feishu_workplace import FeishuWorkplaceDataSensor

# The day a run pulls: the run's `day` parameter when given, else its partition key's day (Airflow 3.2+),
# else by the operators' own rule (the run for [day 06:00, next day 06:00) pulls `day`; a run without a data
# interval the day before it started). Files are named after it, so the path and the pulled day cannot disagree.
DAY = (
    "{{ feishu_day(params.day, data_interval_start | default(none), data_interval_end | default(none),"
    " dag_run.start_date, dag_run.partition_key | default(none)) }}"
)


def feishu_day(day, data_interval_start, data_interval_end, run_start, partition_key=None) -> str:
    """Template macro: the (single) day this run pulls, ``YYYY-MM-DD``."""
    if day:
        try:
            return dt.date.fromisoformat(str(day).strip()).isoformat()
        except ValueError:
            raise ValueError(f"day={day!r} is not a date: pass {{'day': 'YYYY-MM-DD'}}, e.g. '2026-11-15'.") from None
    if partition_key:
        return partition_day(partition_key).isoformat()
    return run_days(data_interval_start, data_interval_end, run_start, TIMEZONE)[1].isoformat()


with DAG(
    dag_id="feishu_workplace_extract",
    description="Pull one day of Feishu Workplace access data into the lake",
    # Feishu publishes a day's data some time after it ends (T+1, hour undocumented): run at 06:00.
    schedule=extract_schedule("0 6 * * *"),
    start_date=pendulum.datetime(2026, 1, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=3,
    user_defined_macros={"feishu_day": feishu_day},
    params={
        "day": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Pull this day (YYYY-MM-DD, the tenant's calendar); empty: the run's own day",
        )
    },
    default_args={
        "feishu_conn_id": FEISHU_CONN_ID,
        "output_conn_id": LAKE_CONN_ID,
        "date": DAY,
        # A manual run (no partition key) names its day as a partition too, so the partitioned load loads it.
        "emit_partitions": RANGE_PARTITIONS,
        # The app's pool: how many pulls of this app run at once across every worker.
        "pool": POOL,
        # Retries are for infrastructure faults (a lost worker, a database or lake hiccup): the hook has
        # already retried the API's transient errors, so these come soon and are few. Waiting for a day
        # to be published is no retry's job.
        "retries": 3,
        "retry_delay": dt.timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": dt.timedelta(minutes=5),
    },
    tags=["feishu", "extract"],
    doc_md=__doc__,
):
    # Wait for Feishu to publish the day (one cheap request a check), then pull. The wait runs in the
    # triggerer (no worker slot held; sensors waiting for the same day share one check per interval);
    # without a triggerer, give deferrable=False and mode="reschedule" instead.
    wait = FeishuWorkplaceDataSensor(
        task_id="wait_for_publication",
        deferrable=True,
        poke_interval=dt.timedelta(minutes=10),
        exponential_backoff=True,
        max_wait=dt.timedelta(hours=1),
        timeout=dt.timedelta(hours=20),
        # With FEISHU_WORKPLACE_ALERT_CHAT_ID set, each failed task tells the chat (after its last retry).
        on_failure_callback=failure_alert(),
    )
    wait >> [
        FeishuWorkplaceAccessOperator(
            task_id="workplace", output_path=lake_path("workplace", DAY), on_failure_callback=failure_alert()
        ),
        FeishuCustomWorkplaceAccessOperator(
            task_id="custom_workplace",
            output_path=lake_path("custom_workplace", DAY),
            on_failure_callback=failure_alert(),
        ),
        FeishuWorkplaceBlockAccessOperator(
            task_id="block", output_path=lake_path("block", DAY), on_failure_callback=failure_alert()
        ),
    ]
