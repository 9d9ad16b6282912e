"""Sensor that waits until Feishu has published a day's Workplace access data."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    conf,
)

from airflow_provider_feishu_workplace._arguments import checked_hook_params
from airflow_provider_feishu_workplace.days import (
    check_publishable_within,
    checked_timezone,
    context_days,
    is_published,
    run_timezone,
    to_day,
)
from airflow_provider_feishu_workplace.endpoints import SearchEndpoint, get_endpoint
from airflow_provider_feishu_workplace.exceptions import FeishuError, raise_for_task
from airflow_provider_feishu_workplace.triggers._shared_checks import (
    CHECK_RATE_SHARE,
    CHECK_TIMEOUT,
    MAX_FAILED_CHECKS,
    check_wait_arguments,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook


class FeishuWorkplaceDataSensor(BaseSensorOperator):
    """Wait until Feishu has published a day's workplace access data (T+1, at an hour it does not document).

    Each check is one request for one item of ``dataset`` on the day. No item yet: keep waiting. An error
    no wait can fix (credentials, permissions, quota, a bad argument) fails the task at once; transient
    faults are retried by the hook, and one that outlasts those retries fails this try (Airflow's
    ``retries`` apply). The usual sensor arguments apply: ``poke_interval``, ``timeout``, ``mode``
    (``poke`` or ``reschedule``), ``soft_fail``, ``exponential_backoff``, ``max_wait``.

    With ``deferrable=True`` the wait runs in Airflow's triggerer
    (:class:`~airflow_provider_feishu_workplace.triggers.feishu_workplace.FeishuWorkplaceDataTrigger`) and
    holds no worker slot; a triggerer must be running. There, sensors waiting for the same app, tenant,
    data set and day share one check per interval, an app's checks stay under ``check_rate_share`` of the
    endpoint's rate limit however many sensors wait, and a transient fault is waited out for up to
    ``max_failed_checks`` checks in a row.

    :param date: the day to wait for, ``YYYY-MM-DD`` (templated); by default the last day the run's
        access operators pull: a partitioned run's day (its key, Airflow 3.2+), else the day before the data
        interval's end, in ``timezone``.
    :param feishu_conn_id: the Feishu connection (templated).
    :param timezone: the time zone days are counted in; defaults to the DAG's.
    :param dataset: the data set whose items show the day is published, by name or
        :class:`~airflow_provider_feishu_workplace.endpoints.SearchEndpoint` (``workplace``, the default,
        has one item a day).
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    :param hook_params: extra keyword arguments for ``FeishuWorkplaceHook`` (timeouts, retries, pacing).
    :param check_timeout: deferred: one check's overall deadline in seconds (connection, token, request,
        retries).
    :param max_failed_checks: deferred: failed checks in a row (each after the hook's retries) that fail the
        task.
    :param check_rate_share: deferred: the share of the search endpoint's rate limit the checks of one app
        may use in a triggerer (0.2: 4 of the 20 requests a second).
    """

    template_fields: Sequence[str] = ("feishu_conn_id", "date")
    ui_color = "#3370ff"

    def __init__(
        self,
        *,
        feishu_conn_id: str = "feishu_default",
        date: str | dt.date | None = None,
        timezone: str | None = None,
        dataset: str | SearchEndpoint = "workplace",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        hook_params: dict[str, Any] | None = None,
        check_timeout: float = CHECK_TIMEOUT,
        max_failed_checks: int = MAX_FAILED_CHECKS,
        check_rate_share: float = CHECK_RATE_SHARE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.feishu_conn_id = feishu_conn_id
        self.date = date
        if timezone is not None:
            checked_timezone(timezone)
        self.timezone = timezone
        self._endpoint = get_endpoint(dataset)  # an unknown data set fails the DAG file, not the run
        self.dataset = self._endpoint.name
        self.deferrable = deferrable
        self.hook_params = hook_params or {}
        check_wait_arguments(check_timeout, max_failed_checks, check_rate_share)
        self.check_timeout = check_timeout
        self.max_failed_checks = max_failed_checks
        self.check_rate_share = check_rate_share

    def resolve_day(self, context: Context) -> dt.date:
        """Return the day this run waits for: ``date``, or the last day the run's operators pull.

        A day that ends (in ``timezone``) after the sensor's ``timeout`` from now is refused with
        :class:`~airflow_provider_feishu_workplace.exceptions.FeishuConfigError`: it cannot be published in
        time, so waiting out the timeout would only delay the failure.
        """
        tz = run_timezone(self.timezone, context)
        day = to_day(self.date, name="date") if self.date else context_days(context, tz)[1]
        check_publishable_within(day, tz, dt.timedelta(seconds=self.timeout))
        return day

    @cached_property
    def hook(self) -> FeishuWorkplaceHook:
        """The hook the checks use (one per task try, so its token is reused between pokes)."""
        from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook

        return FeishuWorkplaceHook(self.feishu_conn_id, **checked_hook_params(self.hook_params, FeishuWorkplaceHook))

    def poke(self, context: Context) -> bool:
        """Return whether the day is published; raise on errors waiting cannot fix.

        With ``deferrable=True`` a day not yet published hands the wait to the triggerer instead of
        returning ``False``: the sensor then waits there, holding no worker slot.
        """
        try:
            day = self.resolve_day(context)
            published = is_published(self.hook, self._endpoint, day)
        except FeishuError as error:
            raise_for_task(error)
        finally:
            if "hook" in self.__dict__:
                self.hook.close()  # no connection held open between pokes; the hook keeps its token
        if published:
            self.log.info("Feishu has published %s data for %s", self.dataset, day)
        elif self.deferrable:
            self.log.info("Feishu has not published %s data for %s yet; waiting in the triggerer", self.dataset, day)
            self._defer(context)
        else:
            self.log.info("Feishu has not published %s data for %s yet", self.dataset, day)
        return published

    # No execute() of its own: BaseSensorOperator's runs the first check in every mode. On Airflow 2.11 an
    # execute() that calls super().execute() logs "execute cannot be called outside TaskInstance!" at
    # every run (an error with allow_nested_operators=False): Airflow 2's ExecutorSafeguard does not
    # recognise the base class's execute called from a subclass's.

    def _defer(self, context: Context) -> None:
        from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook
        from airflow_provider_feishu_workplace.triggers.feishu_workplace import FeishuWorkplaceDataTrigger

        timeout = dt.timedelta(seconds=self.timeout)
        max_wait = self.max_wait.total_seconds() if isinstance(self.max_wait, dt.timedelta) else self.max_wait
        trigger = FeishuWorkplaceDataTrigger(
            feishu_conn_id=self.feishu_conn_id,
            date=self.resolve_day(context).isoformat(),
            dataset=self._endpoint,  # the whole record: the triggerer may not know a DAG file's records
            poke_interval=self.poke_interval,
            exponential_backoff=self.exponential_backoff,
            max_wait=max_wait,
            # The trigger stops itself at the deadline too, so dag.test() (which runs it inline) times out alike.
            timeout_at=(dt.datetime.now(dt.UTC) + timeout).isoformat(),
            hook_params=checked_hook_params(self.hook_params, FeishuWorkplaceHook),
            check_timeout=self.check_timeout,
            max_failed_checks=self.max_failed_checks,
            check_rate_share=self.check_rate_share,
        )
        self.defer(trigger=trigger, method_name="execute_complete", timeout=timeout)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> None:
        """Finish after the trigger fired: succeed when published, else fail or skip as the event says."""
        status = (event or {}).get("status")
        message = (event or {}).get("message") or f"the trigger sent no usable event: {event!r}"
        if status == "published":
            self.log.info("%s", message)
            return
        if status == "timeout":
            if self.soft_fail:
                raise AirflowSkipException(f"{message}; skipped (soft_fail=True)")
            raise AirflowSensorTimeout(f"{message}: raise timeout, or check whether the day is ever published.")
        if status == "error":
            # The trigger sent its error class's answer: the same policy as an error raised here.
            raise_for_task(message, rerun_can_help=bool((event or {}).get("rerun_can_help")))
        raise AirflowFailException(message)

    def get_openlineage_facets_on_start(self) -> Any:
        """Report the Feishu data set this sensor waits on (its input; it writes nothing).

        Called by the OpenLineage provider's listener only, which is imported here, so nothing changes
        without the OpenLineage provider.
        """
        from airflow_provider_feishu_workplace.outputs.lineage import lineage

        return lineage(self.feishu_conn_id, self.dataset)
