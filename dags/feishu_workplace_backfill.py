"""Backfill: a range of days of all three Feishu Workplace data sets into the lake, one task per data set.

Trigger it by hand with ``{"from_date": "YYYY-MM-DD", "to_date": "YYYY-MM-DD"}`` (both included, the
tenant's calendar). Each task pulls the whole range in one pass through the paged endpoint (a year of
the workplace data set is 2 requests) and writes the same files the daily extract does, one per day, each
atomically and all only after the whole range has arrived. Days without data (before the app was
installed, say) get no file. The asset events name every day written, and the load DAG they trigger loads
those days, replacing them in the warehouse. With partitions on Airflow 3.3 and later (docs/partitions.md) each day
written is a partition of the events, so the load runs once per day; on 3.2 use ``airflow backfill create``
of the extract instead (one partitioned run per day), or trigger the load by hand afterwards.

Use this rather than ``airflow dags backfill`` of the extract for more than a few days: one run and three
tasks instead of a run and three tasks per day, each paying its own scheduling, start-up and token.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.providers.common.compat.sdk import DAG, Param
from feishu_workplace_config import FEISHU_CONN_ID, LAKE_CONN_ID, POOL, RANGE_PARTITIONS, TIMEZONE, lake_path

from airflow_provider_feishu_workplace.operators.feishu_workplace import (
    DATE_PLACEHOLDER,
    FeishuCustomWorkplaceAccessOperator,
    FeishuWorkplaceAccessOperator,
    FeishuWorkplaceBlockAccessOperator,
)

with DAG(
    dag_id="feishu_workplace_backfill",
    description="Pull a range of days of Feishu Workplace access data into the lake, one task per data set",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=1,
    params={
        "from_date": Param(
            type="string", format="date", description="First day to pull (YYYY-MM-DD, the tenant's calendar)"
        ),
        "to_date": Param(type="string", format="date", description="Last day to pull, included (YYYY-MM-DD)"),
    },
    default_args={
        "feishu_conn_id": FEISHU_CONN_ID,
        "output_conn_id": LAKE_CONN_ID,
        "from_date": "{{ params.from_date }}",
        "to_date": "{{ params.to_date }}",
        "timezone": TIMEZONE,
        # A day without data gets no file; the others are written (a backfill often starts before the data).
        "on_empty_day": "skip",
        # A manual run has no partition key of its own: each day written becomes one, for the partitioned load.
        "emit_partitions": RANGE_PARTITIONS,
        "pool": POOL,
        # Retries are for infrastructure faults; the hook has already retried the API's transient errors.
        "retries": 2,
        "retry_delay": dt.timedelta(minutes=1),
    },
    tags=["feishu", "extract", "backfill"],
    doc_md=__doc__,
):
    # The daily extract's file names, {date} filled in per day: the load finds backfilled days alike.
    FeishuWorkplaceAccessOperator(task_id="workplace", output_path=lake_path("workplace", DATE_PLACEHOLDER))
    FeishuCustomWorkplaceAccessOperator(
        task_id="custom_workplace", output_path=lake_path("custom_workplace", DATE_PLACEHOLDER)
    )
    FeishuWorkplaceBlockAccessOperator(task_id="block", output_path=lake_path("block", DATE_PLACEHOLDER))
