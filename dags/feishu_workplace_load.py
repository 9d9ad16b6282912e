"""Load the Feishu Workplace lake into SQL tables: each day as it arrives, or every missing or stale day.

With partitions (FEISHU_WORKPLACE_PARTITIONS, docs/partitions.md) the DAG runs once per Feishu day, when all
three data sets have an asset event for that day's partition (``YYYY-MM-DD``), and such a run loads exactly
that day's files. Any other run (a manual one, or without partitions every run) reconciles, as follows.

A reconciling run reconciles: it lists the lake's days of each data set and loads every day whose file the
warehouse does not hold yet, or holds an older version of (a table ``feishu_load_state`` records each
day's file and fingerprint). So a day cannot be stranded in the lake: whichever later run comes, it loads
it, even when Airflow dropped the asset events that should have triggered a run (apache/airflow#56050),
after clears, reruns and lost workers. Runs come when the extract has updated all three data sets (their
Assets, Datasets on Airflow 2) and, as a safety net, on a fixed schedule (FEISHU_WORKPLACE_LOAD_SWEEP).
Asset events that name days outside the lake's layout (their ``days`` map, or ``from_date``..``to_date``
and ``path``) are loaded too, from files under the lake only: an event naming any other file (another
store or bucket, a ``..`` path, a symbolic link out of the lake) fails its days.

Nothing read is trusted: every row is checked against the table's types and the day(s) its file holds
before the day's transaction begins. A day that fails (a file that does not fit, a database error) is
logged and left as it was; the other days still load, and the task fails at the end naming the bad days.

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
# The longest range an asset event may name (the extract's backfills pull a year at most in one file).
MAX_EVENT_DAYS = 366 * 10

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
        dataset: str,
        params=None,
        dag_run=None,
        triggering_asset_events=None,
        triggering_dataset_events=None,
    ) -> dict:
        """Load the data set's missing and stale days (or the ``day`` param's, or the partition's day); return
        what was loaded.

        Airflow 3 passes the events that triggered the run keyed by Asset; Airflow 2 passes them as
        ``triggering_dataset_events``, keyed by the Dataset's URI. A partitioned run's key (Airflow 3.2+) is the
        day it loads.
        """
        from airflow.providers.common.compat.sdk import BaseHook, ObjectStoragePath
        from feishu_workplace_tables import (
            TABLES,
            LakeFile,
            ensure_tables,
            file_fingerprint,
            inside_lake,
            lake_files,
            loaded_fingerprints,
            read_file_rows,
            replace_day,
        )

        # conn_id only when set: before Airflow 3.2 conn_id=None hides the one an s3://conn_id@bucket URI names.
        lake_options = {"conn_id": LAKE_CONN_ID} if LAKE_CONN_ID else {}
        table = TABLES[dataset]
        hook = BaseHook.get_connection(WAREHOUSE_CONN_ID).get_hook()
        lake = ObjectStoragePath(LAKE, **lake_options)
        in_lake = lake_files(lake, dataset)
        file_days: dict[str, tuple[str, str] | None] = {}  # a range file's first and last day, by day
        from airflow_provider_feishu_workplace._compat import run_partition_key
        from airflow_provider_feishu_workplace.days import partition_day

        partition_key = run_partition_key({"dag_run": dag_run})
        day = (params or {}).get("day") or (partition_day(partition_key).isoformat() if partition_key else None)
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
            for event_day, (path, first, last) in _event_days(events).items():
                if event_day not in todo:  # a file outside the lake's layout (a one-file range, say)
                    file = ObjectStoragePath(path, **lake_options)
                    try:
                        fingerprint = file_fingerprint(inside_lake(file, lake))
                    except (ValueError, OSError) as error:
                        fingerprint = f"refused: {error}"  # fails below, with the day's other problems
                    todo[event_day] = LakeFile(event_day, file, fingerprint)
                    file_days[event_day] = (first, last)
        ensure_tables(hook, table)
        held = loaded_fingerprints(hook, table)
        stale = sorted(d for d, file in todo.items() if force or held.get(d) != file.fingerprint)
        loaded, failed = {}, {}
        for stale_day in stale:
            file = todo[stale_day]
            try:
                path = inside_lake(file.path, lake)  # a link planted in the lake must not lead out of it
                count = replace_day(
                    hook,
                    table,
                    stale_day,
                    lambda path=path: read_file_rows(path, table),
                    source=str(file.path),
                    fingerprint=file.fingerprint,
                    unless_loaded=not force,
                    file_days=file_days.get(stale_day),
                )
            except Exception as error:  # a file that does not fit, a row the database refused: the others load
                message = f"{type(error).__name__}: {str(error).strip()[:500]}"
                log.error("Could not load %s for %s (its rows are unchanged): %s", file.path, stale_day, message)
                failed[stale_day] = message
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
            raise ValueError(
                f"{len(failed)} {dataset} days could not be loaded (their rows are unchanged; {len(loaded)} others "
                f"were): {', '.join(sorted(failed))}. " + "; ".join(f"{d}: {m}" for d, m in sorted(failed.items()))
            )
        return {"loaded": loaded, "up_to_date": len(todo) - len(stale)}

    def _event_days(events) -> dict[str, tuple[str, str, str]]:
        """``{day: (path, first, last)}`` from asset events: their ``days`` map, else every day of
        from_date..to_date; ``first``..``last``: the days the file holds (the day alone in a ``days`` map
        without a range). Events whose fields are not what the extract writes are logged and ignored."""
        days: dict[str, tuple[str, str, str]] = {}
        for event in events:
            extra = event.extra if isinstance(event.extra, dict) else {}
            try:
                first = dt.date.fromisoformat(str(extra["from_date"])) if extra.get("from_date") else None
                last = dt.date.fromisoformat(str(extra["to_date"])) if extra.get("to_date") else None
                if isinstance(extra.get("days"), dict):
                    for d, p in extra["days"].items():
                        day = dt.date.fromisoformat(str(d)).isoformat()
                        if p:
                            span = (first.isoformat(), last.isoformat()) if first and last else (day, day)
                            days[day] = (str(p), *span)
                elif extra.get("path") and first and last:
                    if not 0 <= (last - first).days <= MAX_EVENT_DAYS:
                        raise ValueError(f"from_date..to_date spans more than {MAX_EVENT_DAYS} days")
                    day = first
                    while day <= last:
                        days[day.isoformat()] = (str(extra["path"]), first.isoformat(), last.isoformat())
                        day += dt.timedelta(days=1)
            except (TypeError, ValueError) as error:
                log.warning("Ignoring an asset event whose extra is not the extract's (%s): %r", error, extra)
        return days

    for dataset in DATASETS:
        load.override(task_id=f"load_{dataset}")(dataset)
