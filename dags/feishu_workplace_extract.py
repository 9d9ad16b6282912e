"""Daily extract: yesterday's Feishu Workplace access data into the lake, one file per data set and day."""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.providers.common.compat.sdk import DAG
from airflow.timetables.interval import CronDataIntervalTimetable
from feishu_workplace_config import FEISHU_CONN_ID, LAKE_CONN_ID, TIMEZONE, lake_path

from airflow_provider_feishu_workplace.operators.feishu_workplace import (
    FeishuCustomWorkplaceAccessOperator,
    FeishuWorkplaceAccessOperator,
    FeishuWorkplaceBlockAccessOperator,
    run_days,
)

# The day a run pulls, by the operators' own rule: the run for [day 06:00, next day 06:00) pulls `day`,
# and a manual run without a data interval pulls the day before it started. Files are named after it.
DAY = "{{ feishu_day(data_interval_start | default(none), data_interval_end | default(none), dag_run.start_date) }}"


def feishu_day(data_interval_start, data_interval_end, run_start) -> str:
    """Template macro: the (single) day this run pulls, ``YYYY-MM-DD``."""
    return run_days(data_interval_start, data_interval_end, run_start, TIMEZONE)[1].isoformat()


with DAG(
    dag_id="feishu_workplace_extract",
    description="Pull one day of Feishu Workplace access data into the lake",
    # Feishu publishes a day's data some time after it ends (T+1, hour undocumented): run at 06:00.
    schedule=CronDataIntervalTimetable("0 6 * * *", timezone=TIMEZONE),
    start_date=pendulum.datetime(2026, 1, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=3,
    user_defined_macros={"feishu_day": feishu_day},
    default_args={
        "feishu_conn_id": FEISHU_CONN_ID,
        "output_conn_id": LAKE_CONN_ID,
        "date": DAY,
        # A day that is not published yet fails the task; retries try again later.
        "retries": 4,
        "retry_delay": dt.timedelta(minutes=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": dt.timedelta(hours=4),
    },
    tags=["feishu", "extract"],
    doc_md=__doc__,
):
    FeishuWorkplaceAccessOperator(task_id="workplace", output_path=lake_path("workplace", DAY))
    FeishuCustomWorkplaceAccessOperator(task_id="custom_workplace", output_path=lake_path("custom_workplace", DAY))
    FeishuWorkplaceBlockAccessOperator(task_id="block", output_path=lake_path("block", DAY))
