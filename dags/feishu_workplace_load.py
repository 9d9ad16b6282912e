"""Load the lake files of the Feishu Workplace extract into SQL tables, replacing each day it loads.

Runs when the extract has updated all three data sets (data-aware scheduling on their Assets, or
Datasets on Airflow 2) and reads the days and files from those asset events. For a manual run or a
backfill, pass ``{"day": "YYYY-MM-DD"}`` as the run's configuration to load that day's files from the lake.
"""

from __future__ import annotations

import datetime as dt
import logging

import pendulum
from airflow.providers.common.compat.sdk import DAG, Param, task
from feishu_workplace_config import ASSETS, DATASETS, LAKE_CONN_ID, TIMEZONE, WAREHOUSE_CONN_ID, lake_path

log = logging.getLogger(__name__)

with DAG(
    dag_id="feishu_workplace_load",
    description="Load Feishu Workplace access files from the lake into the warehouse",
    schedule=[ASSETS[dataset] for dataset in DATASETS],
    start_date=pendulum.datetime(2026, 1, 1, tz=TIMEZONE),
    catchup=False,
    params={"day": Param(None, type=["null", "string"], format="date", description="Load this day's files")},
    default_args={"retries": 2, "retry_delay": dt.timedelta(minutes=5)},
    tags=["feishu", "load"],
    doc_md=__doc__,
):

    @task
    def load(dataset: str, params=None, triggering_asset_events=None, triggering_dataset_events=None) -> dict:
        """Load the data set's files for the run's days; return what was loaded.

        Airflow 3 passes the events that triggered the run keyed by Asset; Airflow 2 passes them as
        ``triggering_dataset_events``, keyed by the Dataset's URI.
        """
        from airflow.providers.common.compat.sdk import BaseHook, ObjectStoragePath
        from feishu_workplace_tables import TABLES, read_rows, replace_days

        if params.get("day"):
            files = [(params["day"], params["day"], lake_path(dataset, params["day"]))]
        else:
            asset = ASSETS[dataset]
            if triggering_asset_events is not None:
                events = triggering_asset_events.get(asset, [])
            else:
                events = (triggering_dataset_events or {}).get(asset.uri, [])
            files = [(e.extra["from_date"], e.extra["to_date"], e.extra["path"]) for e in events if e.extra.get("path")]
        if not files:
            raise ValueError(f"Nothing to load for {dataset}: pass {{'day': 'YYYY-MM-DD'}} in the run's configuration.")
        hook = BaseHook.get_connection(WAREHOUSE_CONN_ID).get_hook()
        table = TABLES[dataset]
        loaded = {}
        # conn_id only when set: before Airflow 3.2 conn_id=None hides the one an s3://conn_id@bucket URI names.
        lake_options = {"conn_id": LAKE_CONN_ID} if LAKE_CONN_ID else {}
        for first_day, last_day, path in files:
            with ObjectStoragePath(path, **lake_options).open("r", encoding="utf-8") as handle:
                # readline(), not iteration: the file object of Airflow 2.11 and 3.0 cannot be iterated.
                lines = iter(handle.readline, "")
                count = replace_days(hook, table, first_day, last_day, read_rows(lines, table, path))
            log.info("Loaded %d rows for %s..%s from %s into %s", count, first_day, last_day, path, table.name)
            loaded[f"{first_day}..{last_day}"] = count
        return loaded

    for dataset in DATASETS:
        load.override(task_id=f"load_{dataset}")(dataset)
