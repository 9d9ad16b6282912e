"""Load one store-app tenant's day, once per tenant-day partition (Airflow 3.3+, tenant partitions on).

With FEISHU_WORKPLACE_TENANT_PARTITIONS=on, each pull of ``feishu_workplace_tenants`` names its tenant's day as
a partition of the data set's Asset, ``<tenant_key>|YYYY-MM-DD``. This DAG runs once per such key when all
three data sets have it (Airflow's ``PartitionedAssetTimetable`` with a ``ProductMapper``: tenant key, day), and
loads exactly that tenant's day: the tenant's lake files of the day replace its rows of the day in
``<table>_by_tenant``, in one transaction per data set; the other tenants' rows are untouched. A stopped
tenant's day never completes, and blocks no one else's. A key that is not ``<tenant_key>|YYYY-MM-DD`` fails the
run before anything is read, naming the key.

Without tenant partitions this file defines no DAG: the tenants DAG loads every tenant's days itself.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.providers.common.compat.sdk import DAG, task
from feishu_workplace_config import (
    DATASETS,
    LAKE,
    LAKE_CONN_ID,
    TENANT_PARTITIONS,
    TIMEZONE,
    WAREHOUSE_CONN_ID,
    tenant_load_schedule,
)

if TENANT_PARTITIONS:
    with DAG(
        dag_id="feishu_workplace_load_tenants",
        description="Load one tenant's day of Feishu Workplace access data per tenant-day partition",
        schedule=tenant_load_schedule(),
        start_date=pendulum.datetime(2026, 1, 1, tz=TIMEZONE),
        catchup=False,
        max_active_runs=4,
        default_args={"retries": 3, "retry_delay": dt.timedelta(seconds=30), "retry_exponential_backoff": True},
        tags=["feishu", "store-app", "load"],
        doc_md=__doc__,
    ):

        @task
        def load(dataset: str, dag_run=None) -> dict:
            """Replace the partition's tenant's rows of its day with the tenant's lake file of that day."""
            from airflow.providers.common.compat.sdk import BaseHook, ObjectStoragePath
            from feishu_workplace_tables import (
                TABLES,
                ensure_tables,
                inside_lake,
                lake_files,
                replace_tenant_day,
                tenant_lake,
                tenant_rows,
                tenant_table,
            )

            from airflow_provider_feishu_workplace._compat import run_partition_key
            from airflow_provider_feishu_workplace.days import tenant_partition

            tenant_key, day = tenant_partition(run_partition_key({"dag_run": dag_run}))
            lake = ObjectStoragePath(LAKE, **({"conn_id": LAKE_CONN_ID} if LAKE_CONN_ID else {}))
            file = lake_files(tenant_lake(lake, tenant_key), dataset).get(day.isoformat())
            if file is None:
                raise ValueError(
                    f"The lake has no {dataset} file of tenant {tenant_key!r} for {day} under {LAKE}: pull it first "
                    f"(trigger feishu_workplace_tenants with {{'day': '{day}'}})."
                )
            base, table = TABLES[dataset], tenant_table(TABLES[dataset])
            hook = BaseHook.get_connection(WAREHOUSE_CONN_ID).get_hook()
            ensure_tables(hook, table)
            path = inside_lake(file.path, lake)  # a link planted in the lake must not lead out of it
            count = replace_tenant_day(
                hook, table, tenant_key, day.isoformat(), tenant_rows(path, base, tenant_key), source=str(file.path)
            )
            return {"tenant_key": tenant_key, "day": day.isoformat(), "rows": count}

        for dataset in DATASETS:
            load.override(task_id=f"load_{dataset}")(dataset)
