"""Many triggers run as a triggerer runs them: each in Airflow's own ``TriggerRunner.run_trigger``, all on one
event loop in this process, with a watch on that loop's longest stall.

Used by tests/triggers/test_shared_checks.py and scripts/bench_waiting.py.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import types
from collections.abc import Callable, Iterable
from typing import Any

from tests.airflow_versions import AIRFLOW_V_3_0_PLUS

# The stall watch's tick: the loop is asked to wake every STALL_TICK s; a wake-up later than that is a stall.
STALL_TICK = 0.01


def date_time_trigger(moment: Any) -> Any:
    """Airflow's own ``DateTimeTrigger`` (the standard provider's on Airflow 3, core's on Airflow 2)."""
    try:
        from airflow.providers.standard.triggers.temporal import DateTimeTrigger
    except ImportError:
        from airflow.triggers.temporal import DateTimeTrigger
    return DateTimeTrigger(moment=moment)


def time_delta_trigger(delta: Any) -> Any:
    """Airflow's own ``TimeDeltaTrigger``."""
    try:
        from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger
    except ImportError:
        from airflow.triggers.temporal import TimeDeltaTrigger
    return TimeDeltaTrigger(delta)


class InProcessTriggerer:
    """Airflow's ``TriggerRunner`` without its process: :meth:`add` starts a trigger in ``run_trigger`` on the
    running loop; :attr:`events` holds each trigger's first event and when it came (``time.monotonic()``);
    :attr:`longest_stall` the loop's longest stall since :meth:`start` (or :meth:`reset_stall`); :attr:`started`
    when it was made; :attr:`compiled_in_threads` what threads other than the main one compiled or parsed while
    importing, as it ran (see :func:`_import_what_checks_import_lazily`)."""

    def __init__(self) -> None:
        from airflow.jobs.triggerer_job_runner import TriggerRunner

        _import_what_checks_import_lazily()
        self.runner = TriggerRunner()
        #: "thread name: file name" of each compile() made by an import outside the main thread, until stop()
        self.compiled_in_threads: list[str] = []
        _compile_watchers.append(self)
        self.events: dict[str, tuple[float, Any]] = {}
        self.longest_stall = 0.0
        self.started = time.monotonic()
        #: stalls over 50 ms: (when it ended, time.monotonic(); seconds stalled)
        self.stalls: list[tuple[float, float]] = []
        self._names: dict[int, str] = {}
        self._stopping = False
        self._stall_task: asyncio.Task | None = None

    def start(self) -> None:
        """Start watching the loop's stalls (call on the running loop)."""
        self._stall_task = asyncio.get_running_loop().create_task(self._watch_stalls())

    def reset_stall(self) -> None:
        self.longest_stall = 0.0

    def add(self, name: str, trigger: Any) -> None:
        """Run ``trigger`` as the triggerer runs a new one."""
        _as_created_for_no_task(trigger)
        number = len(self._names) + 1
        self._names[number] = name
        self.runner.triggers[number] = {"task": None, "name": name, "events": 0, "is_watcher": False}
        self.runner.triggers[number]["task"] = asyncio.get_running_loop().create_task(
            self.runner.run_trigger(number, trigger)
        )

    async def add_all(self, triggers: Iterable[tuple[str, Any]]) -> None:
        """Add ``triggers`` ((name, trigger) pairs; a generator builds each when its turn comes) one by one,
        giving the loop a turn before each, as the triggerer's ``create_triggers`` does."""
        for name, trigger in triggers:
            await asyncio.sleep(0)
            self.add(name, trigger)

    async def collect(self, *, timeout: float, until: Callable[[InProcessTriggerer], bool]) -> bool:
        """Take the runner's events until ``until(self)`` holds (returns ``True``) or ``timeout`` s pass."""
        deadline = time.monotonic() + timeout
        while True:
            while self.runner.events:
                entry = self.runner.events.popleft()  # (trigger id, event): a TriggerEventEntry on Airflow 3
                self.events.setdefault(self._names[entry[0]], (time.monotonic(), entry[1].payload))
            if until(self):
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        """Cancel every trigger still running, as a triggerer does; raise if one failed."""
        self._stopping = True
        _compile_watchers.remove(self)
        if self._stall_task is not None:
            await self._stall_task  # stalls are watched while the triggers run, not while they are cancelled
        tasks = {number: details["task"] for number, details in self.runner.triggers.items()}
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        for number, task in tasks.items():
            if not task.cancelled() and task.exception() is not None:
                raise AssertionError(f"trigger {self._names[number]} failed") from task.exception()

    async def _watch_stalls(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            asked = loop.time()
            await asyncio.sleep(STALL_TICK)
            stall = loop.time() - asked - STALL_TICK
            self.longest_stall = max(self.longest_stall, stall)
            if stall > 0.05:
                self.stalls.append((time.monotonic(), stall))


def _import_what_checks_import_lazily() -> None:
    """Import here, before any trigger runs, what the provider's check threads would import on their first
    checks, several threads at once.

    Those imports parse Python: pytest rewrites the asserts of the provider's modules (the package of a pytest
    plugin) as they are imported, and Airflow 3.0 configures its ORM on the first ``Connection`` made (read in
    a check thread), importing its models and its execution API's pydantic models, whose schemas parse the
    signatures of builtins (``inspect.signature``). Python 3.11 before 3.11.8 keeps one AST recursion counter
    for all threads (CPython gh-106905): two threads parsing at once can fail with ``SystemError: AST
    constructor recursion depth mismatch``, which crashed a pytest worker on Airflow 3.0 (Python 3.11.2).
    Airflow 2.11 encrypts a connection's password as the connection is made (Fernet), and cryptography compiles
    as it loads its OpenSSL backend on first use: one connection is made here first.
    """
    from airflow.models.connection import Connection
    from sqlalchemy.orm import configure_mappers

    import airflow_provider_feishu_workplace.days
    import airflow_provider_feishu_workplace.hooks._deadline
    import airflow_provider_feishu_workplace.hooks.feishu_workplace  # noqa: F401

    configure_mappers()
    Connection(conn_id="warm_up", conn_type="http", password="warm up")


_compile_watchers: list[InProcessTriggerer] = []


def _note_compile(event: str, args: tuple) -> None:
    if (
        event == "compile"
        and _compile_watchers
        and threading.current_thread() is not threading.main_thread()
        and _importing()
    ):
        for triggerer in _compile_watchers:
            triggerer.compiled_in_threads.append(f"{threading.current_thread().name}: {args[1]}")


def _importing() -> bool:
    """Whether this compile is part of an import (a module's code, or what its top level runs): what the
    warm-up above takes out of the check threads. Other parses (``ast.parse`` of a string, ``<unknown>``: Python
    3.11 does so to place a traceback's carets, ``inspect`` for a builtin's signature) are not imports and
    are not counted."""
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


sys.addaudithook(_note_compile)  # once, when this module is imported: an audit hook cannot be removed


def _as_created_for_no_task(trigger: Any) -> None:
    """Set on ``trigger`` what the triggerer's ``create_triggers`` sets for a trigger of no task instance (as
    these tests' triggers are) before ``run_trigger``, which reads it when it cancels the trigger.

    Airflow 3 sets ``timeout_after`` (3.0's ``run_trigger`` reads the attribute; 3.1's and later are handed it).
    Airflow 2 reads the task instance's ``trigger_timeout``: a task instance without a timeout stands in.
    """
    if AIRFLOW_V_3_0_PLUS:
        trigger.timeout_after = None
    elif getattr(trigger, "task_instance", None) is None:
        trigger.task_instance = types.SimpleNamespace(trigger_timeout=None)


async def run_triggers(
    triggers: dict[str, Any],
    *,
    timeout: float,
    until: Callable[[InProcessTriggerer], bool] | None = None,
    during: Callable[[InProcessTriggerer], Any] | None = None,
) -> InProcessTriggerer:
    """Run ``triggers`` (name -> trigger) together until each has fired, ``until(triggerer)`` holds, or
    ``timeout`` s passed; then cancel those still running. ``await during(triggerer)`` runs beside them.
    """
    triggerer = InProcessTriggerer()
    triggerer.start()
    await triggerer.add_all(triggers.items())
    helper = asyncio.get_running_loop().create_task(during(triggerer)) if during is not None else None
    try:
        await triggerer.collect(
            timeout=timeout,
            until=lambda t: len(t.events) == len(triggers) or (until is not None and until(t)),
        )
    finally:
        if helper is not None:
            helper.cancel()
            await asyncio.gather(helper, return_exceptions=True)
        await triggerer.stop()
    return triggerer
