"""Every tenant of a store app: one mapped pull per tenant and data set, then a load keyed by tenant.

A store app (an ISV's marketplace app) is installed by many tenants. The receiver
(``/feishu/events/{conn_id}``) keeps the tenants that enabled the app in a registry, from the platform's
``app_open`` / ``app_status_change`` events; each run maps over the tenants active when it starts:

- ``tenants`` reads the registry of the store-app connection's app;
- one pull per tenant and data set (dynamic task mapping), each into
  ``<lake>/tenant=<key>/<dataset>_access/dt=<day>/part.*``; a tenant whose admin stopped the app fails its own
  pulls only (Feishu refuses its token), the others go on;
- ``load_<dataset>`` runs once every pull has finished, failed or not, and loads every day in the lake of
  every tenant into ``<table>_by_tenant`` (the data set's table with a ``tenant_key`` column in its key),
  a day of every tenant in one transaction, reconciled against what the warehouse holds as the
  single-tenant load does (see ``feishu_workplace_load``).

Each pull adds an asset event to the connection's Asset (``feishu-workplace://<conn>/<dataset>``) through the
data set's alias, with the tenant in its ``extra``: see docs/store-app-tenants.md. With tenant partitions
(FEISHU_WORKPLACE_TENANT_PARTITIONS, Airflow 3.3+) each pull's event names its tenant's day as partition,
``<tenant_key>|YYYY-MM-DD``, and ``feishu_workplace_load_tenants`` loads each tenant's day instead of ``load_*``.

| variable | meaning | default |
|---|---|---|
| FEISHU_WORKPLACE_STORE_CONN_ID | the store app's connection (``app_type`` ``store``) | feishu_store |

The lake, warehouse, time zone and pool are those of ``feishu_workplace_config``.
"""

from __future__ import annotations

import datetime as dt
import logging

import pendulum
from airflow.providers.common.compat.sdk import DAG, Param, task
from airflow.timetables.interval import CronDataIntervalTimetable
from feishu_workplace_config import (
    DATASETS,
    LAKE,
    LAKE_CONN_ID,
    POOL,
    STORE_CONN_ID,
    TENANT_PARTITIONS,
    TIMEZONE,
    WAREHOUSE_CONN_ID,
    lake_path,
    tenant_pull_outlets,
)

from airflow_provider_feishu_workplace.days import run_days
from airflow_provider_feishu_workplace.operators.feishu_workplace import FeishuWorkplaceAccessOperator

log = logging.getLogger(__name__)
# The day a run pulls, as in feishu_workplace_extract: the `day` param, else the run's own day.
DAY = "{{ tenant_day(params.day, data_interval_start, data_interval_end, dag_run.start_date) }}"
# Each mapped pull's tenant is its own `tenant_key` (rendered before output_path: template_fields' order).
TENANT = "{{ task.tenant_key }}"


def tenant_day(day, data_interval_start, data_interval_end, run_start) -> str:
    """Template macro: the (single) day this run pulls, ``YYYY-MM-DD``."""
    if day:
        return dt.date.fromisoformat(str(day).strip()).isoformat()
    return run_days(data_interval_start, data_interval_end, run_start, TIMEZONE)[1].isoformat()


def tenant_lake_path(dataset: str) -> str:
    """A tenant's file of one data set and day: the single-tenant layout under ``<lake>/tenant=<key>``."""
    return lake_path(dataset, DAY).replace(LAKE, f"{LAKE}/tenant={TENANT}", 1)


with DAG(
    dag_id="feishu_workplace_tenants",
    description="Pull one day of Feishu Workplace access data of every tenant of a store app, and load it",
    schedule=CronDataIntervalTimetable("0 6 * * *", timezone=TIMEZONE),
    start_date=pendulum.datetime(2026, 1, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=1,
    user_defined_macros={"tenant_day": tenant_day},
    params={
        "day": Param(None, type=["null", "string"], format="date", description="Pull this day (YYYY-MM-DD)"),
        "tenant_key": Param(None, type=["null", "string"], description="Pull this active tenant only"),
    },
    default_args={"retries": 3, "retry_delay": dt.timedelta(seconds=30), "retry_exponential_backoff": True},
    tags=["feishu", "store-app"],
    doc_md=__doc__,
):

    @task
    def tenants(params=None) -> list[str]:
        """The tenant keys of the store app that are active now (from the receiver's registry), or the
        ``tenant_key`` param's alone (a rerun of one tenant's day)."""
        from airflow.providers.common.compat.sdk import BaseHook

        from airflow_provider_feishu_workplace.store_apps.tenants import active_tenants

        app_id = (BaseHook.get_connection(STORE_CONN_ID).login or "").strip()
        keys = active_tenants(app_id)
        log.info("Store app %s has %d active tenants", app_id, len(keys))
        only = (params or {}).get("tenant_key")
        if only:
            if only not in keys:
                raise ValueError(f"tenant_key={only!r} is not an active tenant of store app {app_id}: {keys}")
            return [only]
        return keys

    @task(trigger_rule="all_done")
    def load(dataset: str) -> dict:
        """Load every lake day of every tenant missing or stale in the warehouse; fail naming the days that failed."""
        from airflow.providers.common.compat.sdk import BaseHook, ObjectStoragePath
        from feishu_workplace_tables import (
            TABLES,
            ensure_tables,
            inside_lake,
            loaded_fingerprints,
            replace_day,
            tenant_lake_files,
            tenant_rows,
            tenant_table,
            tenants_fingerprint,
        )

        lake = ObjectStoragePath(LAKE, **({"conn_id": LAKE_CONN_ID} if LAKE_CONN_ID else {}))
        base, table = TABLES[dataset], tenant_table(TABLES[dataset])
        hook = BaseHook.get_connection(WAREHOUSE_CONN_ID).get_hook()
        ensure_tables(hook, table)
        held = loaded_fingerprints(hook, table)
        loaded, failed = {}, {}
        for day, files in sorted(tenant_lake_files(lake, dataset).items()):
            fingerprint = tenants_fingerprint(files)
            if held.get(day) == fingerprint:
                continue

            def rows(files=files):
                for tenant_key, file in sorted(files.items()):
                    yield from tenant_rows(inside_lake(file.path, lake), base, tenant_key)

            try:
                count = replace_day(
                    hook, table, day, rows, source=f"{lake}/tenant=*/{dataset}_access", fingerprint=fingerprint
                )
            except Exception as error:  # a file that does not fit, a row the database refused: the others load
                failed[day] = f"{type(error).__name__}: {str(error).strip()[:500]}"
                log.error("Could not load %s for %s (its rows are unchanged): %s", table.name, day, failed[day])
                continue
            if count is not None:
                log.info("Loaded %d rows of %d tenants for %s into %s", count, len(files), day, table.name)
                loaded[day] = {"rows": count, "tenants": sorted(files)}
        if failed:
            raise ValueError(f"{len(failed)} {dataset} days could not be loaded: {failed}")
        return {"loaded": loaded}

    active = tenants()
    for dataset in DATASETS:
        pulls = FeishuWorkplaceAccessOperator.partial(
            task_id=f"pull_{dataset}",
            dataset=dataset,
            feishu_conn_id=STORE_CONN_ID,
            date=DAY,
            output_path=tenant_lake_path(dataset),
            output_conn_id=LAKE_CONN_ID,
            pool=POOL,
            map_index_template=TENANT,
            # A mapped task's outlets come from partial(): the alias, which each pull's event goes through, or
            # with tenant partitions the app's Asset, whose events name the tenant's day.
            outlets=tenant_pull_outlets(dataset),
            emit_partitions=TENANT_PARTITIONS,
        ).expand(tenant_key=active)
        if not TENANT_PARTITIONS:  # else feishu_workplace_load_tenants loads each tenant's day on its own
            pulls >> load.override(task_id=f"load_{dataset}")(dataset)
