"""Load the Feishu Workplace lake into SQL tables: every day that is missing or stale in the warehouse.

Each run reconciles: it lists the lake's days of each data set and loads every day whose file the
warehouse does not hold yet, or holds an older version of (a table ``feishu_load_state`` records each
day's file and fingerprint). So a day cannot be stranded in the lake: whichever later run comes, it loads
it, even when Airflow dropped the asset events that should have triggered a run (apache/airflow#56050),
after clears, reruns and lost workers. Runs come when the extract has updated all three data sets (their
Assets, Datasets on Airflow 2) and, as a safety net, on a fixed schedule (FEISHU_WORKPLACE_LOAD_SWEEP).
Asset events that name days outside the lake's layout (their ``days`` map, or ``from_date``..``to_date``
and ``path``) are loaded too.

Each day is replaced in one transaction that loads of the same day take turns at (an advisory lock on
PostgreSQL, the write lock on SQLite), so concurrent runs neither fail nor mix rows. For a manual run,
``{"day": "YYYY-MM-DD"}`` reloads that day's file whatever the warehouse holds.
"""

from __future__ import annotations

import datetime as dt
import logging

import pendulum
from airflow.providers.common.compat.sdk import DAG, Param, task
from feishu_workplace_config import (
    ASSETS,
    DATASETS,
    LAKE,
    LAKE_CONN_ID,
    LOAD_SWEEP,
    TIMEZONE,
    WAREHOUSE_CONN_ID,
    load_schedule,
)

log = logging.getLogger(__name__)
# Runs that asset events (dataset events on Airflow 2) started; the others have none to read.
TRIGGERED_RUN_TYPES = ("asset_triggered", "dataset_triggered")

with DAG(
    dag_id="feishu_workplace_load",
    description="Load every Feishu Workplace lake day missing or stale in the warehouse",
    schedule=load_schedule([ASSETS[dataset] for dataset in DATASETS], LOAD_SWEEP),
    start_date=pendulum.datetime(2026, 1, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=2,
    params={"day": Param(None, type=["null", "string"], format="date", description="Reload this day's files")},
    default_args={"retries": 3, "retry_delay": dt.timedelta(seconds=30), "retry_exponential_backoff": True},
    tags=["feishu", "load"],
    doc_md=__doc__,
):

    @task
    def load(
        dataset: str, params=None, dag_run=None, triggering_asset_events=None, triggering_dataset_events=None
    ) -> dict:
        """Load the data set's missing and stale days (or the ``day`` param's); return what was loaded.

        Airflow 3 passes the events that triggered the run keyed by Asset; Airflow 2 passes them as
        ``triggering_dataset_events``, keyed by the Dataset's URI.
        """
        from airflow.providers.common.compat.sdk import BaseHook, ObjectStoragePath
        from feishu_workplace_tables import (
            TABLES,
            LakeFile,
            ensure_tables,
            file_fingerprint,
            lake_files,
            loaded_fingerprints,
            read_file_rows,
            replace_day,
        )

        # conn_id only when set: before Airflow 3.2 conn_id=None hides the one an s3://conn_id@bucket URI names.
        lake_options = {"conn_id": LAKE_CONN_ID} if LAKE_CONN_ID else {}
        table = TABLES[dataset]
        hook = BaseHook.get_connection(WAREHOUSE_CONN_ID).get_hook()
        in_lake = lake_files(ObjectStoragePath(LAKE, **lake_options), dataset)
        day = (params or {}).get("day")
        if day:
            if day not in in_lake:
                raise ValueError(
                    f"The lake has no {dataset} file for day={day!r} under {LAKE}: pull it first "
                    f"(trigger feishu_workplace_extract with {{'day': '{day}'}})."
                )
            todo, force = {day: in_lake[day]}, True
        else:
            asset = ASSETS[dataset]
            if dag_run is not None and str(getattr(dag_run, "run_type", "")) not in TRIGGERED_RUN_TYPES:
                events = []  # a scheduled sweep or a manual run: no events to read
            elif triggering_asset_events is not None:
                events = triggering_asset_events.get(asset, [])
            else:
                events = (triggering_dataset_events or {}).get(asset.uri, [])
            todo, force = dict(in_lake), False
            for event_day, path in _event_days(events).items():
                if event_day not in todo:  # a file outside the lake's layout (a one-file range, say)
                    file = ObjectStoragePath(path, **lake_options)
                    todo[event_day] = LakeFile(event_day, file, file_fingerprint(file))
        ensure_tables(hook, table)
        held = loaded_fingerprints(hook, table)
        stale = sorted(d for d, file in todo.items() if force or held.get(d) != file.fingerprint)
        loaded, failed = {}, {}
        for stale_day in stale:
            file = todo[stale_day]
            try:
                count = replace_day(
                    hook,
                    table,
                    stale_day,
                    lambda file=file: read_file_rows(file.path, table),
                    source=str(file.path),
                    fingerprint=file.fingerprint,
                    unless_loaded=not force,
                )
            except ValueError as error:  # a file that does not fit: the other days still load
                log.error("Could not load %s for %s: %s", file.path, stale_day, error)
                failed[stale_day] = str(error)
                continue
            if count is None:
                log.info("%s for %s was loaded by another run meanwhile", table.name, stale_day)
                continue
            log.info("Loaded %d rows for %s from %s into %s", count, stale_day, file.path, table.name)
            loaded[stale_day] = count
        log.info(
            "%s: %d days in the lake, %d loaded now, %d already up to date",
            table.name,
            len(todo),
            len(loaded),
            len(todo) - len(stale),
        )
        if failed:
            raise ValueError(f"{len(failed)} {dataset} days could not be loaded (their rows are unchanged): {failed}")
        return {"loaded": loaded, "up_to_date": len(todo) - len(stale)}

    def _event_days(events) -> dict[str, str]:
        """``{day: path}`` from asset events: their ``days`` map, else every day of from_date..to_date."""
        days: dict[str, str] = {}
        for event in events:
            extra = event.extra or {}
            if isinstance(extra.get("days"), dict):
                days.update({str(d): str(p) for d, p in extra["days"].items() if p})
            elif extra.get("path") and extra.get("from_date") and extra.get("to_date"):
                first = dt.date.fromisoformat(extra["from_date"])
                last = dt.date.fromisoformat(extra["to_date"])
                while first <= last:
                    days[first.isoformat()] = extra["path"]
                    first += dt.timedelta(days=1)
        return days

    for dataset in DATASETS:
        load.override(task_id=f"load_{dataset}")(dataset)
