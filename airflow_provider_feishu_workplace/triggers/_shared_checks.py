"""The checks the Feishu triggers of one triggerer share, paced per app, on the provider's own threads.

A triggerer runs every trigger of a deployment on one event loop. A :class:`Board` per loop holds one
:class:`Watch` per key (origin, app id, tenant key, data set, day). The first trigger waiting for a key
starts the watch's loop: check, hand the outcome to every trigger waiting for that key, sleep for the
shortest wait any of them asks for (plus up to ``JITTER`` of it, never less, so that watches drift apart
instead of firing in step), check again. However many sensors wait for one day, the app sees one check per
interval.

The checks of every watch of one app take turns through that app's :class:`AppPacer`: one slot every
``1 / (share * limit)`` seconds, ``limit`` being the endpoint's documented 20 requests a second (the hook's
``requests_per_second``), ``share`` the trigger's ``check_rate_share``. However many tenants or days are
waited for, their checks stay under that share and leave the rest of the limit to the pulls.

Why a bounded executor and not an async HTTP client: the check reuses the hook's one request funnel as it
is (token cache, pacing, the per-request deadline, redirects refused, bounded bodies, typed errors) instead
of a second implementation of it. It never blocks the loop: everything blocking (the connection's extras,
which Airflow masks; the token; the request; the hook's retries and their sleeps) runs in ``CHECK_THREADS``
threads owned by the provider, not in the loop's default pool that other triggers use. It is bounded: at
most ``CHECK_THREADS`` checks hold a thread at once, and each check has one overall deadline,
``check_timeout``: the loop stops waiting for it then, and the hook the thread uses has its request
deadline and retry deadline cut so that the thread is done by then too (the hook ends a request and its
retries within ``retry_deadline + timeout``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import random
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from airflow_provider_feishu_workplace.endpoints import SearchEndpoint
    from airflow_provider_feishu_workplace.hooks._app_settings import FeishuAppSettings
    from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook

# The threads every Feishu check of a triggerer runs in: slow checks wait for each other, not for the
# loop's default pool, which other triggers use.
CHECK_THREADS = 4
# The defaults of the wait's own arguments (sensor and trigger).
CHECK_TIMEOUT = 60.0
MAX_FAILED_CHECKS = 5
CHECK_RATE_SHARE = 0.2
# A watch wakes this many of its triggers per turn of the event loop.
HAND_OUT = 25
# A watch sleeps its wait plus up to this share of it, drawn afresh each round; an app's check slots are
# spaced likewise.
JITTER = 0.1

#: origin, app id, tenant key (``None``: a self-built app), data set, day (``YYYY-MM-DD``).
Key = tuple[str, str, "str | None", str, str]


@dataclass(frozen=True)
class CheckSpec:
    """How a trigger wants its day checked; a watch checks as its longest-waiting trigger asks."""

    conn_id: str
    endpoint: SearchEndpoint
    day: dt.date
    hook_params: tuple[tuple[str, Any], ...]
    check_timeout: float
    check_rate_share: float
    #: the most checks a second for the app: ``check_rate_share`` of the hook's pace (see :meth:`Board.prepare`)
    checks_per_second: float = 0.0


@dataclass(eq=False)
class Outcome:
    """One check's result: published or not, or the error that ended it (after the hook's retries)."""

    round: int
    published: bool = False
    error: BaseException | None = None


@dataclass(eq=False)
class Pace:
    """One trigger's wait between checks: ``wait``, doubled after each check with ``backoff`` (to ``max_wait``)."""

    wait: float
    backoff: bool = False
    max_wait: float | None = None

    def advance(self) -> None:
        """Take the wait of the next round (after a check that found nothing)."""
        if self.backoff:
            self.wait = self.wait * 2 if self.max_wait is None else min(self.wait * 2, self.max_wait)


class AppPacer:
    """Hands out an app's check slots at most ``rate`` a second, each ``1 / rate`` s after the last plus up to
    ``JITTER`` of that (on the event loop: no lock needed)."""

    def __init__(self) -> None:
        self._next_slot = 0.0

    async def turn(self, rate: float) -> None:
        """Wait for this caller's slot."""
        now = asyncio.get_running_loop().time()
        slot = max(now, self._next_slot)
        self._next_slot = slot + (1 + random.uniform(0, JITTER)) / rate
        if slot > now:
            await asyncio.sleep(slot - now)


@dataclass(eq=False)
class Watch:
    """The shared checks of one key: the triggers waiting for it, the latest outcome, the loop that checks."""

    board: Board
    key: Key
    waiting: dict[int, tuple[CheckSpec, Pace]] = field(default_factory=dict)
    latest: Outcome | None = None
    _waiters: list[asyncio.Future] = field(default_factory=list)
    _task: asyncio.Task | None = None
    _hook_key: tuple | None = None

    async def after(self, seen: int) -> Outcome:
        """The first outcome of a round after round ``seen``: the latest if newer, else the next one."""
        if self.latest is not None and self.latest.round > seen:
            return self.latest
        future = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        return await future

    async def _publish(self, outcome: Outcome) -> None:
        """Hand ``outcome`` to the triggers waiting for it, HAND_OUT at a time, the loop's other work between:
        a thousand triggers woken in one turn of the loop would stall it for every other trigger."""
        self.latest = outcome
        waiters, self._waiters = self._waiters, []
        for start in range(0, len(waiters), HAND_OUT):
            if start:
                await asyncio.sleep(0)
            for future in waiters[start : start + HAND_OUT]:
                if not future.done():  # its trigger may have been cancelled meanwhile
                    future.set_result(outcome)

    async def _run(self) -> None:
        """Check, hand the outcome on, sleep the shortest wait asked (jittered), until no trigger waits."""
        round_ = self.latest.round if self.latest else 0
        try:
            await self._rounds(round_)
        except Exception as error:  # a bug here must end the waits, not leave them hanging
            await self._publish(Outcome((self.latest.round if self.latest else 0) + 1, error=error))
        finally:
            self._task = None
            self.board.release_hook(self)

    async def _rounds(self, round_: int) -> None:
        while self.waiting:
            spec = next(iter(self.waiting.values()))[0]
            await self.board.pacer(self.key[:2]).turn(spec.checks_per_second)
            round_ += 1
            try:
                published = await asyncio.wait_for(self.board.check(self, spec), spec.check_timeout)
            except TimeoutError:
                outcome = Outcome(round_, error=_too_slow(spec))
            except Exception as error:  # handed to each trigger, which applies the one failure policy
                outcome = Outcome(round_, error=error)
            else:
                outcome = Outcome(round_, published=published)
            await self._publish(outcome)
            if outcome.published or not self.waiting:
                return
            paces = [pace for _, pace in self.waiting.values()]
            wait = min(pace.wait for pace in paces)
            for pace in paces:
                pace.advance()
            await asyncio.sleep(wait * (1 + random.uniform(0, JITTER)))


class Board:
    """The watches of one event loop (one triggerer), and the pacers of the apps they check."""

    def __init__(self) -> None:
        self.watches: dict[Key, Watch] = {}
        self._pacers: dict[tuple[str, str], AppPacer] = {}

    def pacer(self, app: tuple[str, str]) -> AppPacer:
        """The pacer of an app (origin, app id)."""
        return self._pacers.setdefault(app, AppPacer())

    async def prepare(self, spec: CheckSpec) -> tuple[Key, CheckSpec]:
        """Read the connection; return the key of the checks ``spec`` asks for, and ``spec`` with its pace."""
        from airflow_provider_feishu_workplace._compat import aget_connection, run_off_loop

        conn = await aget_connection(spec.conn_id, executor=check_threads())
        settings, limit = await run_off_loop(
            _settings_and_limit, conn, dict(spec.hook_params), executor=check_threads()
        )
        key = (settings.base_url, settings.app_id, settings.tenant_key, spec.endpoint.name, spec.day.isoformat())
        return key, replace(spec, checks_per_second=spec.check_rate_share * limit)

    @contextmanager
    def watching(self, key: Key, spec: CheckSpec, pace: Pace) -> Iterator[Watch]:
        """Wait on ``key``'s watch while in the block (starting its loop if none runs); leave it after."""
        watch = self.watches.get(key)
        if watch is None:
            watch = self.watches[key] = Watch(self, key)
        waiter = id(pace)
        watch.waiting[waiter] = (spec, pace)
        if watch._task is None and not (watch.latest and watch.latest.published):
            watch._task = asyncio.get_running_loop().create_task(watch._run(), name=f"feishu-watch-{key[3]}-{key[4]}")
        try:
            yield watch
        finally:
            del watch.waiting[waiter]
            if not watch.waiting:
                if watch._task is not None:
                    watch._task.cancel()
                if self.watches.get(key) is watch:
                    del self.watches[key]

    async def check(self, watch: Watch, spec: CheckSpec) -> bool:
        """One check: the connection read afresh on the loop, the rest in a thread of :func:`check_threads`."""
        from airflow_provider_feishu_workplace._compat import aget_connection, run_off_loop

        # From the loop, as each Airflow allows (see _compat); a blocking read in the provider's threads.
        conn = await aget_connection(spec.conn_id, executor=check_threads())
        return await run_off_loop(self._check_blocking, watch, spec, conn, executor=check_threads())

    def _check_blocking(self, watch: Watch, spec: CheckSpec, conn: Any) -> bool:
        from airflow_provider_feishu_workplace.days import is_published

        hook = self._hook(watch, spec, _settings(conn))
        return is_published(hook, spec.endpoint, spec.day)

    # Hooks: one per app settings and hook arguments, shared by the watches that check with them (so one
    # token and one connection pool per app, not per waiting sensor).

    _hooks: dict[tuple, list] = {}
    _hooks_lock = threading.Lock()

    def _hook(self, watch: Watch, spec: CheckSpec, settings: FeishuAppSettings) -> FeishuWorkplaceHook:
        hook_key = (spec.conn_id, settings, spec.hook_params, spec.check_timeout)
        with self._hooks_lock:
            if watch._hook_key != hook_key:  # the first check, or the connection changed
                self._release(watch._hook_key)
                entry = self._hooks.get(hook_key)
                if entry is None:
                    entry = self._hooks[hook_key] = [_make_hook(spec, settings), 0]
                entry[1] += 1
                watch._hook_key = hook_key
            return self._hooks[hook_key][0]

    def release_hook(self, watch: Watch) -> None:
        """Let go of the hook ``watch`` used; the last watch to let go closes it."""
        with self._hooks_lock:
            self._release(watch._hook_key)
            watch._hook_key = None

    def _release(self, hook_key: tuple | None) -> None:
        entry = None if hook_key is None else self._hooks.get(hook_key)
        if hook_key is None or entry is None:
            return
        entry[1] -= 1
        if entry[1] <= 0:
            del self._hooks[hook_key]
            entry[0].close()


_boards: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Board] = weakref.WeakKeyDictionary()


def board() -> Board:
    """The board of the running event loop (a triggerer's one loop; each ``asyncio.run`` gets its own)."""
    loop = asyncio.get_running_loop()
    found = _boards.get(loop)
    if found is None:
        found = _boards[loop] = Board()
    return found


@functools.cache
def check_threads() -> ThreadPoolExecutor:
    """The provider's own threads for the blocking part of every check in this process."""
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=CHECK_THREADS, thread_name_prefix="feishu-trigger-check")


def _settings(conn: Any) -> FeishuAppSettings:
    """The connection's checked fields (reading the extras masks secrets: a blocking call, off the loop)."""
    from airflow_provider_feishu_workplace._compat import mask_secret
    from airflow_provider_feishu_workplace.hooks._app_settings import FeishuAppSettings

    settings = FeishuAppSettings.from_connection(conn)
    for secret in (settings.app_ticket, settings.shared_rate_limit_password):
        if secret:
            mask_secret(secret)  # as the hook does when it reads the connection itself
    return settings


def _settings_and_limit(conn: Any, hook_params: dict[str, Any]) -> tuple[FeishuAppSettings, float]:
    """The connection's settings, and the search endpoint's limit: the pace the hook keeps (its
    ``requests_per_second``, by default the documented 20 a second). In a thread: the hook's first import
    would stall the loop."""
    from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook

    default = (FeishuWorkplaceHook.__init__.__kwdefaults__ or {})["requests_per_second"]
    return _settings(conn), hook_params.get("requests_per_second") or default


def _make_hook(spec: CheckSpec, settings: FeishuAppSettings) -> FeishuWorkplaceHook:
    """A hook with the connection's settings given (read on the loop) and deadlines within ``check_timeout``."""
    from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook

    hook = FeishuWorkplaceHook(spec.conn_id, **dict(spec.hook_params))
    hook.settings = settings
    # The hook ends a request and its retries within retry_deadline + timeout: so the thread is free by the
    # check's deadline (a request that alone would outlast it is not retried).
    hook.timeout = min(hook.timeout, spec.check_timeout)
    hook.retry_deadline = min(hook.retry_deadline, max(spec.check_timeout - hook.timeout, 0.001))
    return hook


def _too_slow(spec: CheckSpec) -> Exception:
    from airflow_provider_feishu_workplace.exceptions import FeishuTransientError

    return FeishuTransientError(
        f"the check of {spec.endpoint.name} data for {spec.day} did not finish within its deadline of "
        f"{spec.check_timeout:g}s (sensor argument check_timeout)"
    )


def check_wait_arguments(check_timeout: Any, max_failed_checks: Any, check_rate_share: Any) -> None:
    """Raise :class:`~airflow_provider_feishu_workplace.exceptions.FeishuConfigError` naming a bad wait argument."""
    from airflow_provider_feishu_workplace._arguments import whole_number
    from airflow_provider_feishu_workplace.exceptions import FeishuConfigError

    def number(value: Any) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool)

    if not number(check_timeout) or check_timeout <= 0:
        raise FeishuConfigError(f"check_timeout={check_timeout!r} must be a positive number of seconds.")
    whole_number("max_failed_checks", max_failed_checks)
    if not number(check_rate_share) or not 0 < check_rate_share <= 1:
        raise FeishuConfigError(
            f"check_rate_share={check_rate_share!r} must be a fraction of the endpoint's rate limit above 0 and at "
            "most 1 (0.2: the checks of an app take at most a fifth of its requests)."
        )
