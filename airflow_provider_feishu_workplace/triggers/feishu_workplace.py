"""Trigger that waits in Airflow's triggerer until Feishu has published a day's Workplace access data."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_feishu_workplace.endpoints import ENDPOINTS, SearchEndpoint, get_endpoint

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook

# The threads every Feishu trigger of a triggerer checks in. A check can take a while (the hook's retries):
# in threads of their own, slow checks wait for each other instead of taking the loop's default pool,
# which other triggers use.
CHECK_THREADS = 4


class FeishuWorkplaceDataTrigger(BaseTrigger):
    """Check every ``poke_interval`` seconds whether a day's access data is published; fire once it is.

    Each check reads the connection on the triggerer's event loop (so a rotated secret or a moved host
    applies from the next check), then sends one search request through :class:`FeishuWorkplaceHook`'s own
    request path (tokens, pacing, retries, answer checks) in a thread of a small pool shared by these
    triggers, so the event loop never blocks. The trigger keeps only what it needs to rebuild itself (no
    credentials), its data set's whole record included: a record registered in a DAG file works in a
    triggerer that never imports that file.

    Its event's payload is ``{"status": ..., "date": ..., "message": ...}`` with status ``published``,
    ``timeout`` (``timeout_at`` passed), or ``error`` (then ``rerun_can_help`` says whether a retry of the
    task may succeed).

    :param feishu_conn_id: the Feishu connection.
    :param date: the day to wait for, ``YYYY-MM-DD``.
    :param dataset: the data set whose items show the day is published: a registered name or a
        :class:`~airflow_provider_feishu_workplace.endpoints.SearchEndpoint`.
    :param endpoint: the data set's record as :meth:`SearchEndpoint.to_dict` gives it (what
        :meth:`serialize` stores; used instead of looking ``dataset`` up). Triggers stored without it (by
        earlier provider versions) look their data set's name up among the registered endpoints.
    :param poke_interval: seconds between checks.
    :param exponential_backoff: double the wait after each check, up to ``max_wait``.
    :param max_wait: the longest wait between checks, in seconds (with ``exponential_backoff``).
    :param timeout_at: ISO 8601 time (UTC) after which the trigger stops waiting and reports ``timeout``.
    :param hook_params: keyword arguments for the hook (timeouts, retries; no secrets).
    """

    def __init__(
        self,
        *,
        feishu_conn_id: str,
        date: str,
        dataset: str | SearchEndpoint = "workplace",
        endpoint: dict[str, Any] | None = None,
        poke_interval: float = 60.0,
        exponential_backoff: bool = False,
        max_wait: float | None = None,
        timeout_at: str | None = None,
        hook_params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.feishu_conn_id = feishu_conn_id
        self.date = date
        if endpoint is not None:
            dataset = SearchEndpoint.from_dict(endpoint)
        # A name not registered in this process is looked up again at the first check, an error event then.
        self._endpoint = dataset if isinstance(dataset, SearchEndpoint) else ENDPOINTS.get(dataset)
        self.dataset = dataset.name if isinstance(dataset, SearchEndpoint) else dataset
        self.poke_interval = float(poke_interval)
        self.exponential_backoff = exponential_backoff
        self.max_wait = None if max_wait is None else float(max_wait)
        self.timeout_at = timeout_at
        self.hook_params = dict(hook_params or {})

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the class path and the keyword arguments Airflow stores to rebuild the trigger."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "feishu_conn_id": self.feishu_conn_id,
                "date": self.date,
                "dataset": self.dataset,
                "endpoint": None if self._endpoint is None else self._endpoint.to_dict(),
                "poke_interval": self.poke_interval,
                "exponential_backoff": self.exponential_backoff,
                "max_wait": self.max_wait,
                "timeout_at": self.timeout_at,
                "hook_params": self.hook_params,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Check until the day is published, the deadline passes, or an error stops the wait."""
        from airflow_provider_feishu_workplace._compat import aget_connection, run_off_loop
        from airflow_provider_feishu_workplace.exceptions import FeishuError

        day = dt.date.fromisoformat(self.date)
        deadline = dt.datetime.fromisoformat(self.timeout_at) if self.timeout_at else None
        wait = self.poke_interval
        checks = 0
        self._hook: FeishuWorkplaceHook | None = None
        try:
            while True:
                checks += 1
                try:
                    # Read afresh for every check, from the event loop (see _compat.aget_connection).
                    conn = await aget_connection(self.feishu_conn_id)
                    published = await run_off_loop(self._check, conn, day, executor=_check_threads())
                except FeishuError as error:
                    yield TriggerEvent(self._event("error", str(error), rerun_can_help=error.rerun_can_help))
                    return
                if published:
                    yield TriggerEvent(self._event("published", f"{self.dataset} data for {self.date} is published"))
                    return
                now = dt.datetime.now(dt.UTC)
                if deadline is not None and now >= deadline:
                    message = f"{self.dataset} data for {self.date} was still not published at {self.timeout_at}"
                    yield TriggerEvent(self._event("timeout", f"{message} ({checks} checks)"))
                    return
                self.log.info("%s data for %s is not published yet; checking again in %.0f s", self.dataset, day, wait)
                sleep = wait if deadline is None else max(0.0, min(wait, (deadline - now).total_seconds()))
                await asyncio.sleep(sleep)
                if self.exponential_backoff:
                    wait = wait * 2 if self.max_wait is None else min(wait * 2, self.max_wait)
        finally:
            if self._hook is not None:
                self._hook.close()

    def _check(self, conn: Any, day: dt.date) -> bool:
        """One check, in a thread: the hook with the connection's current settings, then one request."""
        from airflow_provider_feishu_workplace._compat import mask_secret
        from airflow_provider_feishu_workplace.days import is_published
        from airflow_provider_feishu_workplace.hooks._app_settings import FeishuAppSettings
        from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook

        settings = FeishuAppSettings.from_connection(conn)  # reads the extras, which masks them: off the loop
        hook = self._hook
        if hook is None or hook.settings != settings:  # the first check, or the connection changed
            if hook is not None:
                hook.close()
            hook = self._hook = FeishuWorkplaceHook(self.feishu_conn_id, **self.hook_params)
            # Given, not read again: the connection was read for this check on the event loop.
            hook.settings = settings
            if settings.app_ticket:
                mask_secret(settings.app_ticket)  # as the hook does when it reads the connection itself
        if self._endpoint is None:
            self._endpoint = get_endpoint(self.dataset)
        return is_published(hook, self._endpoint, day)

    def _event(self, status: str, message: str, **more: Any) -> dict[str, Any]:
        return {"status": status, "date": self.date, "dataset": self.dataset, "message": message, **more}


@functools.cache
def _check_threads() -> ThreadPoolExecutor:
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=CHECK_THREADS, thread_name_prefix="feishu-trigger-check")
