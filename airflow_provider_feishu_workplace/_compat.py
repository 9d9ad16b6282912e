"""What differs between Airflow 2.11 and 3.x in the provider's runtime code, in one place.

Everything else imports Airflow through ``airflow.providers.common.compat``; this module holds only what
that package does not smooth over. It is loaded at every DAG parse, so it imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_2_PLUS, AIRFLOW_V_3_3_PLUS

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

T = TypeVar("T")

__all__ = [
    "AIRFLOW_V_3_0_PLUS",
    "ASSET_PARTITIONS",
    "PARTITION_KEYS_IN_DAG_TIME_ZONE",
    "TASK_PARTITION_KEYS",
    "add_partitions",
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
]

#: Whether this Airflow has asset partitions (AIP-76, from 3.2): partitioned runs, partitioned asset events,
#: ``CronPartitionTimetable`` and ``PartitionedAssetTimetable``.
ASSET_PARTITIONS = AIRFLOW_V_3_2_PLUS
#: Whether a task can name the partitions of its asset events (``add_partitions``, from 3.3); on 3.2 an event
#: carries its run's partition key only.
TASK_PARTITION_KEYS = AIRFLOW_V_3_3_PLUS
#: Whether ``CronPartitionTimetable`` writes its keys (scheduled and backfill runs alike) in the DAG's time
#: zone, from 3.3; 3.2 writes them from the UTC time of each tick, a day early for 06:00 in Asia/Shanghai.
PARTITION_KEYS_IN_DAG_TIME_ZONE = AIRFLOW_V_3_3_PLUS


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
    from airflow.providers.common.compat.sdk import mask_secret as airflow_mask_secret

    if AIRFLOW_V_3_0_PLUS and _supervisor_in_this_process():
        try:
            from airflow.sdk._shared.secrets_masker import mask_secret as mask_in_this_process
        except ImportError:  # Airflow 3.0 to 3.2 kept the masker here
            from airflow.sdk.execution_time.secrets_masker import (  # type: ignore[no-redef]
                mask_secret as mask_in_this_process,
            )
        mask_in_this_process(secret)
        return
    airflow_mask_secret(secret)


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
    """A ``CronPartitionTimetable`` on a daily ``cron`` (in ``timezone``) whose runs carry the day before as key.

    Returns ``None`` before Airflow 3.2, which has no partitions: the caller schedules otherwise.

    :param key_format: how the day is written as key (``strftime``): only the date, so the previous tick
        of a daily cron gives the day before the run.
    """
    if not ASSET_PARTITIONS:
        return None
    from airflow.sdk import CronPartitionTimetable

    offset = _day_before_offset(cron, timezone)
    return CronPartitionTimetable(cron, timezone=timezone, run_offset=offset, key_format=key_format)


def _day_before_offset(cron: str, timezone: str) -> int:
    """The ``run_offset`` whose partition key is the day before a run of the daily ``cron``, in ``timezone``.

    Airflow 3.3 writes the key from the partition's tick in the timetable's time zone: the previous tick, -1.
    Airflow 3.2 writes it from the tick's UTC time, whose date differs from the local one when the cron's
    hour is on the other side of UTC midnight (06:00 in Asia/Shanghai is 22:00 UTC the day before): the
    offset moves by that difference, measured on the next tick (a zone whose UTC offset changes across UTC
    midnight with daylight saving could be a day off in part of the year: docs/partitions.md).
    """
    if PARTITION_KEYS_IN_DAG_TIME_ZONE:
        return -1
    import datetime as dt

    import pendulum
    from croniter import croniter  # type: ignore[import-untyped]

    tick = croniter(cron, pendulum.now(timezone)).get_next(dt.datetime)
    return -1 + (tick.date() - tick.astimezone(dt.UTC).date()).days


def partitioned_asset_timetable(assets: list[Any]) -> Any:
    """A timetable with one run per partition key once every one of ``assets`` has an event for it (3.2+).

    Returns ``None`` before Airflow 3.2, which has no partitions: the caller schedules otherwise.
    """
    if not ASSET_PARTITIONS:
        return None
    from airflow.sdk import AssetAll, PartitionedAssetTimetable

    return PartitionedAssetTimetable(assets=AssetAll(*assets))


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
