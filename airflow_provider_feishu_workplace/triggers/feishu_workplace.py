"""Trigger that waits in Airflow's triggerer until Feishu has published a day's Workplace access data."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_feishu_workplace.endpoints import ENDPOINTS, SearchEndpoint, get_endpoint
from airflow_provider_feishu_workplace.triggers._shared_checks import (
    CHECK_RATE_SHARE,
    CHECK_TIMEOUT,
    MAX_FAILED_CHECKS,
    check_wait_arguments,
)


class FeishuWorkplaceDataTrigger(BaseTrigger):
    """Check every ``poke_interval`` seconds whether a day's access data is published; fire once it is.

    Built for thousands of waiting sensors on one triggerer (see :mod:`._shared_checks`): the triggers of a
    triggerer waiting for the same app, tenant, data set and day share one check per interval; the checks
    of one app, whatever their tenants and days, are spread to stay under ``check_rate_share`` of the
    endpoint's rate limit, with jitter. Each check reads the connection afresh on the event loop (so a
    rotated secret or a moved host applies from the next check), then sends one search request through
    :class:`FeishuWorkplaceHook`'s own request path (tokens, pacing, retries, answer checks) in a thread of a
    small pool the provider owns, within one overall deadline (``check_timeout``). The event loop never
    blocks. The trigger keeps only what it needs to rebuild itself (no credentials), its data set's whole
    record included: a record registered in a DAG file works in a triggerer that never imports that file.

    A check that fails after the hook's own retries with an error waiting may outlast (a 5xx, a timeout, a
    reset) is logged and the wait goes on, up to ``max_failed_checks`` failed checks in a row; an error no
    wait can fix (credentials, permissions, quota) ends the wait at once.

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
    :param check_timeout: one check's overall deadline in seconds: the connection read, the token, the
        request and the hook's retries.
    :param max_failed_checks: failed checks in a row (each after the hook's own retries) that end the wait
        with an error.
    :param check_rate_share: the share of the search endpoint's rate limit (the hook's
        ``requests_per_second``, 20 a second by default) that the checks of one app may use, in this triggerer.
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
        check_timeout: float = CHECK_TIMEOUT,
        max_failed_checks: int = MAX_FAILED_CHECKS,
        check_rate_share: float = CHECK_RATE_SHARE,
    ) -> None:
        super().__init__()
        check_wait_arguments(check_timeout, max_failed_checks, check_rate_share)
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
        self.check_timeout = float(check_timeout)
        self.max_failed_checks = max_failed_checks
        self.check_rate_share = float(check_rate_share)

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
                "check_timeout": self.check_timeout,
                "max_failed_checks": self.max_failed_checks,
                "check_rate_share": self.check_rate_share,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Wait for the shared checks of the day until it is published, the deadline passes, or an error
        stops the wait."""
        from airflow_provider_feishu_workplace.exceptions import FeishuError
        from airflow_provider_feishu_workplace.triggers._shared_checks import CheckSpec, Pace, board

        deadline = dt.datetime.fromisoformat(self.timeout_at) if self.timeout_at else None
        try:
            if self._endpoint is None:
                self._endpoint = get_endpoint(self.dataset)
            spec = CheckSpec(
                conn_id=self.feishu_conn_id,
                endpoint=self._endpoint,
                day=dt.date.fromisoformat(self.date),
                hook_params=tuple(sorted(self.hook_params.items())),
                check_timeout=self.check_timeout,
                check_rate_share=self.check_rate_share,
            )
            checks = board()
            key, spec = await checks.prepare(spec)
        except FeishuError as error:
            yield TriggerEvent(self._event("error", str(error), rerun_can_help=error.rerun_can_help))
            return
        pace = Pace(self.poke_interval, self.exponential_backoff, self.max_wait)
        failed = checked = 0
        with checks.watching(key, spec, pace) as watch:
            # A sensor checked once before deferring: a trigger joining a running watch waits for its next round.
            latest = watch.latest
            seen = latest.round if latest is not None and not latest.published else 0
            while True:
                remaining = None if deadline is None else (deadline - dt.datetime.now(dt.UTC)).total_seconds()
                try:
                    # asyncio.timeout, not wait_for: no task of its own for each of thousands of waiting triggers
                    async with asyncio.timeout(remaining):
                        outcome = await watch.after(seen)
                except TimeoutError:
                    message = f"{self.dataset} data for {self.date} was still not published at {self.timeout_at}"
                    yield TriggerEvent(self._event("timeout", f"{message} ({checked} checks)"))
                    return
                seen, checked = outcome.round, checked + 1
                if outcome.published:
                    yield TriggerEvent(self._event("published", f"{self.dataset} data for {self.date} is published"))
                    return
                failure = outcome.error
                if failure is None:
                    failed = 0
                    self.log.info("%s data for %s is not published yet", self.dataset, self.date)
                    continue
                if not isinstance(failure, FeishuError):
                    raise failure
                failed += 1
                if not failure.rerun_can_help or failed >= self.max_failed_checks:
                    message = str(failure)
                    if failure.rerun_can_help:
                        bound = f"max_failed_checks={self.max_failed_checks}"
                        message = f"{failed} checks in a row failed ({bound}); the last: {message}"
                    yield TriggerEvent(self._event("error", message, rerun_can_help=failure.rerun_can_help))
                    return
                self.log.warning(
                    "Check %d of %s data for %s failed (%d in a row, max_failed_checks=%d); waiting on: %s",
                    checked, self.dataset, self.date, failed, self.max_failed_checks, failure,
                )  # fmt: skip

    def _event(self, status: str, message: str, **more: Any) -> dict[str, Any]:
        return {"status": status, "date": self.date, "dataset": self.dataset, "message": message, **more}
