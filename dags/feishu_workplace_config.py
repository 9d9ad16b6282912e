"""Configuration shared by the Feishu Workplace example DAGs, read from the environment at parse time.

| variable | meaning | default |
|---|---|---|
| FEISHU_WORKPLACE_CONN_ID | the Feishu connection | feishu_default |
| FEISHU_WORKPLACE_LAKE | base URI of the lake (file://, s3://bucket/prefix, ...) | file://$AIRFLOW_HOME/feishu_lake |
| FEISHU_WORKPLACE_LAKE_CONN_ID | the lake filesystem's connection (for example aws_default) | none |
| FEISHU_WORKPLACE_LAKE_FORMAT | the lake files' format: jsonl, or parquet (needs the [parquet] extra) | jsonl |
| FEISHU_WORKPLACE_WAREHOUSE_CONN_ID | the SQL database the load DAG writes to (sqlite or postgres) | feishu_warehouse |
| FEISHU_WORKPLACE_TIMEZONE | the tenant's calendar: days are counted in this time zone | Asia/Shanghai |
| FEISHU_WORKPLACE_PARTITIONS | one asset partition per Feishu day (docs/partitions.md; 3.2+): on, off | on from 3.3 |
| FEISHU_WORKPLACE_STORE_CONN_ID | the store app's connection (app_type store), for the tenants DAG | feishu_store |
| FEISHU_WORKPLACE_TENANT_PARTITIONS | a partition per tenant's day (docs/store-app-tenants.md; 3.3+): on, off | off |
| FEISHU_WORKPLACE_LOAD_SWEEP | cron of the load's safety-net runs (ignored with partitions); empty: none | 45 * * * * |
| FEISHU_WORKPLACE_POOL | the pool of the app's pulls (create it with ``airflow pools set``) | feishu_workplace |
| FEISHU_WORKPLACE_ALERT_CHAT_ID | a Feishu chat (``oc_...``) the app's bot tells of each failed task | none |

Only these environment variables are read. Airflow Variables are not (neither from the metadata
database nor as ``AIRFLOW_VAR_*``), so that parsing the DAG files needs no database access; set the
variables in the environment of the scheduler, the DAG processor and the workers.
"""

from __future__ import annotations

import os

import pendulum

from airflow_provider_feishu_workplace._compat import (
    ASSET_PARTITIONS,
    PARTITION_KEYS_IN_DAG_TIME_ZONE,
    TASK_PARTITION_KEYS,
    day_partition_timetable,
    partitioned_asset_timetable,
    tenant_day_partition_mapper,
)
from airflow_provider_feishu_workplace.days import PARTITION_KEY_FORMAT, TENANT_DAY_SEPARATOR
from airflow_provider_feishu_workplace.operators.feishu_workplace import feishu_access_alias, feishu_access_asset

FEISHU_CONN_ID = os.environ.get("FEISHU_WORKPLACE_CONN_ID", "feishu_default")
_AIRFLOW_HOME = os.path.expanduser(os.environ.get("AIRFLOW_HOME", "~/airflow"))
LAKE = os.environ.get("FEISHU_WORKPLACE_LAKE", f"file://{_AIRFLOW_HOME}/feishu_lake").rstrip("/")
LAKE_CONN_ID = os.environ.get("FEISHU_WORKPLACE_LAKE_CONN_ID") or None
# The operators write the format the file name says: part.jsonl or part.parquet. The load reads either.
LAKE_FORMAT = (os.environ.get("FEISHU_WORKPLACE_LAKE_FORMAT") or "jsonl").strip().lower()
if LAKE_FORMAT not in ("jsonl", "parquet"):
    raise ValueError(f"FEISHU_WORKPLACE_LAKE_FORMAT={LAKE_FORMAT!r} is unknown: use 'jsonl' or 'parquet'.")
WAREHOUSE_CONN_ID = os.environ.get("FEISHU_WORKPLACE_WAREHOUSE_CONN_ID", "feishu_warehouse")
TIMEZONE = os.environ.get("FEISHU_WORKPLACE_TIMEZONE", "Asia/Shanghai")
# One pool per Feishu app: its slots bound the app's concurrent pulls across all workers.
POOL = os.environ.get("FEISHU_WORKPLACE_POOL") or "feishu_workplace"
# One Feishu day = one asset partition (Airflow 3.2+): the extract's runs are keyed by their day and the load
# runs once per day that all three data sets have. The one place the example DAGs choose their design. On by
# default from 3.3; on 3.2 only when asked: there the extract runs in the last hour of the day it pulls (so that
# `airflow backfill create` keys the days it names), and the backfill DAG's range makes unpartitioned events
# (docs/partitions.md).
_DEFAULT_PARTITIONS = "on" if PARTITION_KEYS_IN_DAG_TIME_ZONE else "off"
_PARTITIONS = (os.environ.get("FEISHU_WORKPLACE_PARTITIONS") or _DEFAULT_PARTITIONS).strip().lower()
if _PARTITIONS not in ("on", "off"):
    raise ValueError(f"FEISHU_WORKPLACE_PARTITIONS={_PARTITIONS!r} is unknown: use 'on' or 'off'.")
if _PARTITIONS == "on" and not ASSET_PARTITIONS:
    raise ValueError("FEISHU_WORKPLACE_PARTITIONS='on' needs Airflow 3.2 or later (asset partitions): use 'off'.")
PARTITIONED = _PARTITIONS == "on"
# A run without a partition key (a manual one, the backfill DAG's range) names each day it wrote as a partition
# of its events, so the partitioned load loads it too: from Airflow 3.3.
RANGE_PARTITIONS = PARTITIONED and TASK_PARTITION_KEYS
# Unpartitioned, the load also runs on this cron, so a day whose asset events Airflow dropped still loads
# within the hour. Partitioned, Airflow keeps each day's events until all three arrived: no sweep, and none can
# be scheduled beside PartitionedAssetTimetable (trigger the load without a key to reconcile: docs/partitions.md).
LOAD_SWEEP = "" if PARTITIONED else os.environ.get("FEISHU_WORKPLACE_LOAD_SWEEP", "45 * * * *").strip()
try:
    pendulum.timezone(TIMEZONE)
except Exception as error:
    raise ValueError(
        f"FEISHU_WORKPLACE_TIMEZONE={TIMEZONE!r} is not a known time zone: use an IANA name such as 'Asia/Shanghai'."
    ) from error

DATASETS = ("workplace", "custom_workplace", "block")
ASSETS = {dataset: feishu_access_asset(dataset, FEISHU_CONN_ID) for dataset in DATASETS}

STORE_CONN_ID = os.environ.get("FEISHU_WORKPLACE_STORE_CONN_ID", "feishu_store")
# A store app's tenants (feishu_workplace_tenants): with tenant partitions each tenant's pull emits its day as
# partition `<tenant_key>|YYYY-MM-DD`, and feishu_workplace_load_tenants loads each tenant's day on its own,
# once all three data sets have it; without, the tenants DAG loads every tenant's days itself. Opt-in: a task
# names its events' partitions from Airflow 3.3 (on 3.2 an event carries its run's key, and a tenants run
# pulls every tenant).
_TENANT_PARTITIONS = (os.environ.get("FEISHU_WORKPLACE_TENANT_PARTITIONS") or "off").strip().lower()
if _TENANT_PARTITIONS not in ("on", "off"):
    raise ValueError(f"FEISHU_WORKPLACE_TENANT_PARTITIONS={_TENANT_PARTITIONS!r} is unknown: use 'on' or 'off'.")
if _TENANT_PARTITIONS == "on" and not TASK_PARTITION_KEYS:
    raise ValueError(
        "FEISHU_WORKPLACE_TENANT_PARTITIONS='on' needs Airflow 3.3 or later (a task naming its asset events' "
        "partitions): use 'off'."
    )
TENANT_PARTITIONS = _TENANT_PARTITIONS == "on"
STORE_ASSETS = {dataset: feishu_access_asset(dataset, STORE_CONN_ID) for dataset in DATASETS}


def tenant_pull_outlets(dataset: str) -> list:
    """The outlets of a tenants DAG's (mapped) pull of ``dataset``.

    With tenant partitions the store app's Asset itself: Airflow names partitions on an Asset's events only,
    not through an alias. Else the data set's alias (docs/store-app-tenants.md, "Asset events per tenant").
    """
    return [STORE_ASSETS[dataset]] if TENANT_PARTITIONS else [feishu_access_alias(dataset)]


def tenant_load_schedule():
    """The tenant load's schedule: one run per tenant-day partition that all three data sets have (3.3+)."""
    mapper = tenant_day_partition_mapper(TIMEZONE, day_format=PARTITION_KEY_FORMAT, separator=TENANT_DAY_SEPARATOR)
    return partitioned_asset_timetable([STORE_ASSETS[dataset] for dataset in DATASETS], partition_mapper=mapper)


# A failed task's alert goes to this chat, as the app's bot (scope im:message:send_as_bot; the bot in the chat).
ALERT_CHAT_ID = (os.environ.get("FEISHU_WORKPLACE_ALERT_CHAT_ID") or "").strip() or None
ALERT_TEXT = "Feishu Workplace: task {{ ti.task_id }} of {{ dag.dag_id }} failed (run {{ run_id }})."


def failure_alert():
    """A new ``on_failure_callback`` for one task: a FeishuNotifier to ALERT_CHAT_ID, or ``None`` when unset.

    One notifier per task: a notifier renders its templates in place, so tasks must not share one.
    """
    if ALERT_CHAT_ID is None:
        return None
    from airflow_provider_feishu_workplace.notifications import FeishuNotifier

    return FeishuNotifier(chat_id=ALERT_CHAT_ID, text=ALERT_TEXT, feishu_conn_id=FEISHU_CONN_ID)


def extract_schedule(cron: str):
    """The extract DAG's schedule: ``cron`` in the tenant's time zone, each run for the day before it.

    Partitioned: a ``CronPartitionTimetable`` whose runs carry their day as key (on Airflow 3.2 it runs at the
    cron's minute of the last hour of that day instead: docs/partitions.md); else the interval timetable.
    """
    if PARTITIONED:
        return day_partition_timetable(cron, timezone=TIMEZONE, key_format=PARTITION_KEY_FORMAT)
    from airflow.timetables.interval import CronDataIntervalTimetable

    return CronDataIntervalTimetable(cron, timezone=TIMEZONE)


def load_schedule(assets: list, cron: str):
    """The load DAG's schedule: once per day all of ``assets`` have (partitioned), else when all were
    updated or else on ``cron`` (in the tenant's time zone)."""
    if PARTITIONED:
        return partitioned_asset_timetable(assets)
    if not cron:
        return assets
    try:  # Airflow 3.2+
        from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable
    except ImportError:
        from airflow.timetables.trigger import CronTriggerTimetable

        try:  # Airflow 3.0, 3.1
            from airflow.timetables.assets import AssetOrTimeSchedule
        except ImportError:  # Airflow 2
            from airflow.timetables.datasets import DatasetOrTimeSchedule

            return DatasetOrTimeSchedule(timetable=CronTriggerTimetable(cron, timezone=TIMEZONE), datasets=assets)
    return AssetOrTimeSchedule(timetable=CronTriggerTimetable(cron, timezone=TIMEZONE), assets=assets)


def lake_path(dataset: str, day: str) -> str:
    """Return the lake file of one data set and day: ``<lake>/<dataset>_access/dt=<day>/part.<LAKE_FORMAT>``."""
    return f"{LAKE}/{dataset}_access/dt={day}/part.{LAKE_FORMAT}"
