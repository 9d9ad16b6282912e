"""What differs between Airflow 2.11 and 3.x in the provider's runtime code, in one place.

Everything else imports Airflow through ``airflow.providers.common.compat``; this module holds only what
that package does not smooth over. It is loaded at every DAG parse, so it imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.providers.common.compat.version_compat import get_base_airflow_version_tuple

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

T = TypeVar("T")

__all__ = [
    "AIRFLOW_V_3_0_PLUS",
    "AIRFLOW_V_3_1_PLUS",
    "AIRFLOW_V_3_2_PLUS",
    "AIRFLOW_V_3_3_PLUS",
    "ASSET_PARTITIONS",
    "NESTED_ALIAS_EVENT_EXTRA",
    "PARTITION_KEYS_IN_DAG_TIME_ZONE",
    "TASK_PARTITION_KEYS",
    "add_partitions",
    "alias_event_extra",
    "aget_connection",
    "day_partition_timetable",
    "get_variable",
    "make_asset",
    "make_asset_alias",
    "mask_secret",
    "partitioned_asset_timetable",
    "reveal_secret",
    "run_off_loop",
    "run_partition_key",
    "seal_secret",
    "set_variable",
    "task_logger",
    "tenant_day_partition_mapper",
]

_AIRFLOW_VERSION = get_base_airflow_version_tuple()
# Computed here, not imported from common.compat's version_compat, which names 3.2 and 3.3 only from its 1.13
# and 1.17: the provider works with common-compat 1.12 (pyproject.toml).
AIRFLOW_V_3_0_PLUS = _AIRFLOW_VERSION >= (3, 0, 0)
AIRFLOW_V_3_1_PLUS = _AIRFLOW_VERSION >= (3, 1, 0)
AIRFLOW_V_3_2_PLUS = _AIRFLOW_VERSION >= (3, 2, 0)
AIRFLOW_V_3_3_PLUS = _AIRFLOW_VERSION >= (3, 3, 0)

#: Whether this Airflow has asset partitions (AIP-76, from 3.2): partitioned runs, partitioned asset events,
#: ``CronPartitionTimetable`` and ``PartitionedAssetTimetable``.
ASSET_PARTITIONS = AIRFLOW_V_3_2_PLUS
#: Whether a task can name the partitions of its asset events (``add_partitions``, from 3.3); on 3.2 an event
#: carries its run's partition key only.
TASK_PARTITION_KEYS = AIRFLOW_V_3_3_PLUS
#: Whether ``CronPartitionTimetable`` writes its keys in the DAG's time zone and a backfill takes the partitions
#: of the days it names, from 3.3; 3.2 writes keys from each tick's UTC time, and a backfill takes the runs whose
#: tick is in its range (:func:`day_partition_timetable` chooses a timetable that gives each run its day on both).
PARTITION_KEYS_IN_DAG_TIME_ZONE = AIRFLOW_V_3_3_PLUS
#: Whether an asset event added through an alias may hold lists and objects in its ``extra``: from 3.1.2
#: (apache/airflow#57352). Before, Airflow groups such events by ``frozenset(extra.items())``, and a nested
#: value fails the task with "unhashable type: 'dict'": on 2.11 after ``execute()`` (then retried, failing
#: again), on 3.0 in the API server's update of the task's state.
NESTED_ALIAS_EVENT_EXTRA = _AIRFLOW_VERSION >= (3, 1, 2)


def make_asset(*, name: str, uri: str, group: str) -> Any:
    """Return an ``Asset`` on Airflow 3, a ``Dataset`` with the same URI on Airflow 2.

    Airflow 2's datasets have a URI only, so ``name`` and ``group`` apply on Airflow 3; DAGs scheduled
    on the returned object match the operators' outlets on both.
    """
    from airflow.providers.common.compat.sdk import Asset  # Dataset on Airflow 2

    if AIRFLOW_V_3_0_PLUS:
        return Asset(name=name, uri=uri, group=group)
    return Asset(uri=uri)


def make_asset_alias(name: str) -> Any:
    """Return an ``AssetAlias`` on Airflow 3, a ``DatasetAlias`` (Airflow 2.10+) on Airflow 2."""
    if AIRFLOW_V_3_0_PLUS:
        from airflow.sdk import AssetAlias

        return AssetAlias(name=name)
    from airflow.datasets import DatasetAlias  # type: ignore[import-not-found,unused-ignore]  # Airflow 2

    return DatasetAlias(name=name)


def alias_event_extra(extra: dict[str, Any]) -> dict[str, Any]:
    """Return ``extra`` as this Airflow can record it on an asset event added through an alias.

    Where an alias event's extra must be flat (before 3.1.2, see :data:`NESTED_ALIAS_EVENT_EXTRA`), each
    list or object value is given as its JSON text; the other values are kept.
    """
    if NESTED_ALIAS_EVENT_EXTRA:
        return extra
    import json

    return {key: json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v for key, v in extra.items()}


def task_logger(name: str) -> Any:
    """Return a logger that writes to the running task's log (structlog's on Airflow 3, logging's on 2)."""
    if AIRFLOW_V_3_0_PLUS:
        import structlog  # the task runner already loaded it; imported here to keep DAG parsing cheap

        return structlog.get_logger(name)
    import logging

    return logging.getLogger(name)  # Airflow 2 sends the airflow.task.* loggers to the task's log


async def aget_connection(conn_id: str, *, executor: ThreadPoolExecutor | None = None) -> Any:
    """Read an Airflow connection from a trigger's event loop, the way this Airflow allows there.

    - Airflow 3.3.2 and later: ``BaseHook.aget_connection``, asynchronous to the end (it masks the
      secrets asynchronously too).
    - Airflow 3.0 to 3.3.1: ``get_connection`` in a thread of :func:`run_off_loop` (of ``executor``);
      ``aget_connection`` (from 3.1) masks the secrets with a blocking call on the loop, which can deadlock there.
    - Airflow 2.11: ``get_connection`` (a metadata database or secrets backend read) in such a thread.
    """
    from airflow.providers.common.compat.sdk import BaseHook, Connection

    if hasattr(Connection, "aextra_dejson"):  # came with the asynchronous masking of Airflow 3.3.2
        return await BaseHook.aget_connection(conn_id)
    return await run_off_loop(BaseHook.get_connection, conn_id, executor=executor)


async def run_off_loop(func: Callable[..., T], *args: Any, executor: ThreadPoolExecutor | None = None) -> T:
    """Run a blocking call in a thread of ``executor`` (``None``: the loop's default) from a trigger.

    On Airflow 3 through asgiref's ``sync_to_async``: whatever the call asks the triggerer's supervisor
    (a connection, a secret to mask) is then sent from the trigger's event loop. Before 3.3.2 the channel
    is safe from that loop only: a request from a plain thread (``asyncio.to_thread``) runs on a loop of
    its own and kills the trigger runner with every trigger in it. Airflow 2 has no supervisor.
    """
    if AIRFLOW_V_3_0_PLUS:
        from asgiref.sync import sync_to_async

        return await sync_to_async(func, thread_sensitive=False, executor=executor)(*args)
    import asyncio
    import functools

    return await asyncio.get_running_loop().run_in_executor(executor, functools.partial(func, *args))


def mask_secret(secret: str) -> None:
    """Have Airflow hide ``secret`` in every log line, without handing it to a supervisor that logs it.

    Airflow's ``mask_secret`` adds the value to this process's secrets masker and, on Airflow 3 in a task,
    also sends it to the task's supervisor in a ``MaskSecret`` message. Under ``dag.test()`` (Airflow 3) that
    supervisor runs in this very process (``InProcessSupervisorComms``), logs every message it is sent at
    DEBUG with its value in clear (``Sending request msg=MaskSecret(value='...')``), and redacts with this
    process's masker anyway: there the value is added to the masker only. A worker's supervisor is another
    process, which logs such a message's type only: there Airflow's function runs as usual. See
    docs/debug-logs.md.
    """
    if AIRFLOW_V_3_0_PLUS and _supervisor_in_this_process():
        try:
            from airflow.sdk._shared.secrets_masker import mask_secret as mask_in_this_process
        except ImportError:  # before the shared masker: its mask_secret there sends MaskSecret too, so add_mask
            from airflow.sdk.execution_time.secrets_masker import _secrets_masker

            mask_in_this_process = _secrets_masker().add_mask
        mask_in_this_process(secret)
        return
    _airflow_mask_secret()(secret)


def _airflow_mask_secret() -> Callable[[str], None]:
    """Return Airflow's own ``mask_secret``: where this Airflow keeps it, from 2.11 on.

    ``airflow.providers.common.compat.sdk`` names it only from common-compat 1.22; looking in the same places
    here lets the provider work with common-compat 1.12 (pyproject.toml).
    """
    try:
        from airflow.sdk.log import mask_secret  # Airflow 3.1 and later
    except ImportError:
        try:
            from airflow.sdk.execution_time.secrets_masker import mask_secret  # type: ignore[no-redef]  # 3.0
        except ImportError:  # Airflow 2.11
            from airflow.utils.log.secrets_masker import (  # type: ignore[import-not-found,no-redef,unused-ignore]
                mask_secret,
            )
    return mask_secret


def _supervisor_in_this_process() -> bool:
    import sys

    task_runner = sys.modules.get("airflow.sdk.execution_time.task_runner")  # loaded in every task process
    comms = getattr(task_runner, "SUPERVISOR_COMMS", None)
    return type(comms).__name__ == "InProcessSupervisorComms"


def run_partition_key(context: Any) -> str | None:
    """Return the partition key of the task's run, or ``None`` (an unpartitioned run, or Airflow before 3.2)."""
    if not ASSET_PARTITIONS:
        return None
    # The run's own field: 3.3 also puts it in the context as partition_key, 3.2 does not.
    return getattr(context.get("dag_run"), "partition_key", None)


def add_partitions(outlet_event: Any, keys: list[str]) -> bool:
    """Emit ``keys`` as partitions of an outlet's asset event (one asset event per key); return whether
    this Airflow could: 3.3 can (``add_partitions``); on 3.2 the event carries its run's partition key only.
    """
    if not keys or not TASK_PARTITION_KEYS:
        return False
    outlet_event.add_partitions(keys)
    return True


def day_partition_timetable(cron: str, *, timezone: str, key_format: str) -> Any:
    """A ``CronPartitionTimetable`` of a daily ``cron`` (in ``timezone``) whose runs each carry the day they pull.

    Returns ``None`` before Airflow 3.2, which has no partitions: the caller schedules otherwise.

    Airflow 3.3 and later: runs on ``cron``, each keyed by the day before it. Airflow 3.2: runs at the cron's
    minute of the day's last hour (23:MM), each keyed by its own day (see :func:`_same_day_cron`).

    :param key_format: how the day is written as key (``strftime``): only the date.
    """
    if not ASSET_PARTITIONS:
        return None
    from airflow.sdk import CronPartitionTimetable

    if PARTITION_KEYS_IN_DAG_TIME_ZONE:
        # The key is written from the partition's tick in the DAG's time zone: the previous tick's day. A
        # backfill takes the ticks of the days in its range and keys each by its own day (no offset).
        return CronPartitionTimetable(cron, timezone=timezone, run_offset=-1, key_format=key_format)
    same_day = _same_day_cron(cron)
    offset = _utc_day_offset(same_day, timezone)
    return CronPartitionTimetable(same_day, timezone=timezone, run_offset=offset, key_format=key_format)


def _same_day_cron(cron: str) -> str:
    """``cron`` at 23:MM: the daily tick inside the day a run pulls, as Airflow 3.2's backfills need.

    Airflow 3.2's ``airflow backfill create`` takes the runs whose *tick* is in ``--from-date``..``--to-date``
    and keys each as a scheduled run (``run_offset`` applied). With a tick the morning after the day it pulls
    (06:00), a backfill of 08-01..08-05 would make the runs keyed 07-31..08-04; with the tick inside the
    day it pulls, the keys are the days asked for. The run then waits for the day's publication (the
    extract's sensor, deferred) instead of starting after it.
    """
    fields = cron.split()
    if len(fields) != 5 or not fields[0].isdigit() or not fields[1].isdigit():
        raise ValueError(
            f"cron={cron!r} is not a daily cron at one time ('M H * * *'): a day-partitioned extract on Airflow 3.2 "
            "runs at that minute of the day's last hour (docs/partitions.md)."
        )
    return " ".join([fields[0], "23", *fields[2:]])


def _utc_day_offset(cron: str, timezone: str) -> int:
    """The ``run_offset`` whose key, on Airflow 3.2, is the day of a tick of ``cron`` in ``timezone``.

    Airflow 3.2 writes a key from its tick's UTC time: west of UTC a 23:00 tick is the next day in UTC, so
    the previous tick (-1) has the UTC date of the local day. Measured on the next tick (a zone whose UTC
    offset changes with daylight saving across UTC midnight could be a day off in part of the year).
    """
    import datetime as dt

    import pendulum
    from croniter import croniter  # type: ignore[import-untyped]

    tick = croniter(cron, pendulum.now(timezone)).get_next(dt.datetime)
    return (tick.date() - tick.astimezone(dt.UTC).date()).days


def partitioned_asset_timetable(assets: list[Any], *, partition_mapper: Any = None) -> Any:
    """A timetable with one run per partition key once every one of ``assets`` has an event for it (3.2+).

    Returns ``None`` before Airflow 3.2, which has no partitions: the caller schedules otherwise.

    :param partition_mapper: how an event's key becomes the run's (Airflow's ``default_partition_mapper``);
        default: the key itself.
    """
    if not ASSET_PARTITIONS:
        return None
    from airflow.sdk import AssetAll, PartitionedAssetTimetable

    mapper = {} if partition_mapper is None else {"default_partition_mapper": partition_mapper}
    return PartitionedAssetTimetable(assets=AssetAll(*assets), **mapper)


def tenant_day_partition_mapper(timezone: str, *, day_format: str, separator: str) -> Any:
    """Airflow's partition mapper of a store app's tenant-day keys, ``<tenant_key><separator><day>`` (3.3+).

    ``day_format`` and ``separator`` are the key's own facts, kept in :mod:`..days` (given here, so that this
    module does not import it back).

    A ``ProductMapper``: the tenant key as it is, the day as a day in ``timezone`` (the run's partition date).
    A key of another shape maps to no run (the scheduler logs it). Returns ``None`` before Airflow 3.3, whose
    tasks cannot name their events' partitions.
    """
    if not TASK_PARTITION_KEYS:
        return None
    from airflow.sdk import IdentityMapper, ProductMapper, StartOfDayMapper

    day = StartOfDayMapper(input_format=day_format, output_format=day_format, timezone=timezone)
    return ProductMapper(IdentityMapper(), day, delimiter=separator)


def _in_task_runner() -> bool:
    """Whether this is an Airflow 3 task (or trigger) process, which reaches Airflow through its supervisor."""
    import sys

    return hasattr(sys.modules.get("airflow.sdk.execution_time.task_runner"), "SUPERVISOR_COMMS")


def get_variable(key: str) -> str | None:
    """Read an Airflow Variable's text (``None`` when it does not exist) from any Airflow process.

    - Airflow 3, in a task or the triggerer: the Task SDK's ``Variable`` (the supervisor asks the API server).
    - Airflow 3 in the API server, and Airflow 2 everywhere: ``airflow.models.Variable`` (secrets backends,
      then the metadata database).
    """
    if AIRFLOW_V_3_0_PLUS and _in_task_runner():
        from airflow.sdk import Variable

        return Variable.get(key, default=None)
    from airflow.models.variable import Variable as ModelVariable

    return ModelVariable.get(key, default_var=None)


def set_variable(key: str, value: str, *, description: str) -> None:
    """Write an Airflow Variable's text from any Airflow process (through the Task SDK in an Airflow 3 task)."""
    if AIRFLOW_V_3_0_PLUS and _in_task_runner():
        from airflow.sdk import Variable

        Variable.set(key, value, description=description)
        return
    from airflow.models.variable import Variable as ModelVariable

    ModelVariable.set(key, value, description=description)


def seal_secret(secret: str) -> str:
    """Return ``secret`` as it may sit inside a Variable's value that Airflow's REST API shows.

    Airflow 3's REST API masks the value of a Variable whose key is sensitive; Airflow 2.11's shows it in
    clear to any user allowed to read Variables, so there the secret is Fernet-encrypted once more with
    the deployment's key (every Airflow 2 process has it; without one configured it stays as it is).
    """
    if AIRFLOW_V_3_0_PLUS:
        return secret
    from airflow.models.crypto import get_fernet

    return get_fernet().encrypt(secret.encode()).decode()


def reveal_secret(sealed: str) -> str:
    """Undo :func:`seal_secret` (in the same Airflow version)."""
    if AIRFLOW_V_3_0_PLUS:
        return sealed
    from airflow.models.crypto import get_fernet

    return get_fernet().decrypt(sealed.encode()).decode()
