"""Days: the values users pass, the days a run pulls, the time zones they are counted in, and publication.

One home for every task type: the access operators, the sensor and its trigger count days by these rules,
so a sensor waits for exactly the day its DAG's operators pull.

- :func:`to_day`, :func:`to_day_range`: the date values users pass, as the API's ``yyyy-MM-dd`` days.
- :func:`run_days`: the calendar days a run without an explicit date pulls (from its data interval).
- :func:`partition_day`, :func:`partition_keys`: a run's partition key as its day, and days as keys
  (Airflow 3.2+ asset partitions: one Feishu day is one partition, keyed ``YYYY-MM-DD``);
  :func:`tenant_partition`: a store app's composite key ``<tenant_key>|YYYY-MM-DD`` as its tenant and day.
- :func:`checked_timezone`, :func:`run_timezone`: the time zone days are counted in.
- :func:`is_published`: whether Feishu has published a day yet (one cheap request).
- :func:`check_publishable_within`: refuse a day that cannot be published before a wait ends.

This module imports nothing heavy: DAG files import it at every parse; pendulum is imported when a time
zone is needed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Generator, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_feishu_workplace._arguments import checked_tenant_key
from airflow_provider_feishu_workplace.exceptions import FeishuConfigError

if TYPE_CHECKING:
    from airflow_provider_feishu_workplace.endpoints import SearchEndpoint

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
ONE_DAY = dt.timedelta(days=1)
#: How a Feishu day is written as an asset partition key (``strftime``): the day in the tenant's time zone,
#: ``2026-11-23``. ``CronPartitionTimetable(key_format=PARTITION_KEY_FORMAT)`` writes its keys so.
PARTITION_KEY_FORMAT = "%Y-%m-%d"
#: Between the tenant key and the day in a store app's partition key, ``<tenant_key>|YYYY-MM-DD``: the
#: delimiter of Airflow's ``ProductMapper``.
TENANT_DAY_SEPARATOR = "|"

DateLike = str | dt.date | dt.datetime


def to_day(value: DateLike | None, *, name: str) -> dt.date:
    """Return ``value`` as a calendar day.

    Strings must be ``YYYY-MM-DD``; a ``datetime`` (pendulum included) gives its own calendar day.

    :param value: the value to convert.
    :param name: the argument's name, used in the error message.
    """
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        text = value.strip()
        if _ISO_DAY.fullmatch(text):
            try:
                return dt.date.fromisoformat(text)
            except ValueError:
                pass
        raise FeishuConfigError(f"{name}={value!r} is not a valid date: use 'YYYY-MM-DD', for example '2026-11-23'.")
    raise FeishuConfigError(
        f"{name}={value!r} has type {type(value).__name__}: pass a 'YYYY-MM-DD' string, a date or a datetime."
    )


def to_day_range(from_date: DateLike | None, to_date: DateLike | None) -> tuple[dt.date, dt.date]:
    """Return ``(from_day, to_day)`` after checking that the range is not reversed."""
    first = to_day(from_date, name="from_date")
    last = to_day(to_date, name="to_date")
    if first > last:
        raise FeishuConfigError(
            f"from_date={first.isoformat()} is after to_date={last.isoformat()}: swap them or fix the range."
        )
    return first, last


def day_list(first_day: dt.date, last_day: dt.date) -> list[str]:
    """Every day from ``first_day`` to ``last_day`` (included), ``YYYY-MM-DD``."""
    return [(first_day + dt.timedelta(days=n)).isoformat() for n in range((last_day - first_day).days + 1)]


def checked_timezone(timezone: Any) -> Any:
    """Return ``timezone`` as a pendulum time zone; an unknown name is a :class:`FeishuConfigError`.

    :param timezone: an IANA name such as ``"Asia/Shanghai"``, or a time zone object (returned as is).
    """
    import pendulum

    if not isinstance(timezone, str):  # already a time zone object (for example the DAG's)
        return timezone
    try:
        return pendulum.timezone(timezone)
    except Exception as error:
        raise FeishuConfigError(
            f"timezone={timezone!r} is not a known time zone: use an IANA name such as 'Asia/Shanghai' or 'UTC'."
        ) from error


def run_timezone(timezone: Any, context: Any) -> Any:
    """Return the time zone a task counts days in: its own ``timezone``, else its DAG's, else UTC."""
    return checked_timezone(timezone or getattr(context.get("dag"), "timezone", None) or "UTC")


def run_days(
    data_interval_start: Any, data_interval_end: Any, run_start: Any, timezone: Any
) -> tuple[dt.date, dt.date]:
    """Return the first and last calendar day (in ``timezone``) a run without an explicit date pulls.

    The days run from the day of ``data_interval_start`` to the day before ``data_interval_end``.
    An empty interval (Airflow 3's default ``@daily`` timetable starts and ends the interval at
    the same moment) gives the single day before its end; so does a run with no interval, from
    its start.

    For DAGs that name files after the day: ``user_defined_macros`` can expose it to templates, so a
    path and the pulled day cannot disagree (see dags/feishu_workplace_extract.py).

    :param data_interval_start: the run's data interval start (an aware datetime), or ``None``.
    :param data_interval_end: the run's data interval end, or ``None``.
    :param run_start: when the run started (used when it has no data interval), or ``None``.
    :param timezone: the time zone days are counted in (a name or a pendulum time zone).
    """
    tz = checked_timezone(timezone)
    if data_interval_end is None:
        if run_start is None:
            raise FeishuConfigError("The run has neither a data interval nor a start date: pass date='YYYY-MM-DD'.")
        last = _local_day(run_start, tz) - ONE_DAY
        return last, last
    last = _local_day(data_interval_end, tz) - ONE_DAY
    first = _local_day(data_interval_start, tz) if data_interval_start is not None else last
    return (first, last) if first <= last else (last, last)


def partition_day(key: Any) -> dt.date:
    """Return the Feishu day an asset partition key names; refuse a key that names no day.

    The key is the day itself, ``YYYY-MM-DD`` (:data:`PARTITION_KEY_FORMAT`), counted in the time zone of
    the DAG that made it. A store app's tenant-day key (``<tenant_key>|YYYY-MM-DD``) is read by
    :func:`tenant_partition`.

    :param key: the run's partition key.
    :raises FeishuConfigError: naming the key and the format, before any request is sent.
    """
    day = _key_day(key)
    if day is None:
        raise FeishuConfigError(
            f"partition_key={key!r} names no Feishu day: a partitioned run's key must be the day, 'YYYY-MM-DD' "
            "(for example '2026-11-23'). Schedule the DAG with CronPartitionTimetable(..., key_format='%Y-%m-%d'), "
            "or pass date= to the task."
        )
    return day


def tenant_partition(key: Any) -> tuple[str, dt.date]:
    """Return the tenant key and the Feishu day a store app's partition key names; refuse any other key.

    The key is ``<tenant_key>|YYYY-MM-DD`` (:func:`partition_keys` with ``tenant_key``): one tenant's day,
    counted in the time zone of the DAG that pulled it.

    :param key: the run's partition key.
    :raises FeishuConfigError: naming the key and the format, before any request or read.
    """
    tenant_key, separator, day_text = key.partition(TENANT_DAY_SEPARATOR) if isinstance(key, str) else ("", "", "")
    day = _key_day(day_text) if separator else None
    if day is not None:
        with contextlib.suppress(FeishuConfigError):  # the message below names the whole key
            return checked_tenant_key(tenant_key), day
    raise FeishuConfigError(
        f"partition_key={key!r} names no tenant's day: a store app's partition key must be "
        f"'<tenant_key>{TENANT_DAY_SEPARATOR}YYYY-MM-DD' (for example 'tenant_a{TENANT_DAY_SEPARATOR}2026-11-23'; "
        "a tenant key is letters, digits, '_' and '-'), as the tenants DAG's pulls emit them."
    )


def _key_day(text: Any) -> dt.date | None:
    text = text.strip() if isinstance(text, str) else None
    if text and _ISO_DAY.fullmatch(text):
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            pass
    return None


def partition_keys(days: Iterable[str], *, tenant_key: str | None = None) -> list[str]:
    """Return the partition keys of ``days`` (``YYYY-MM-DD`` strings, as :func:`day_list` gives them).

    :param tenant_key: a store app's tenant: its tenant-day keys, ``<tenant_key>|YYYY-MM-DD``
        (read back by :func:`tenant_partition`).
    """
    keys = [dt.date.fromisoformat(day).strftime(PARTITION_KEY_FORMAT) for day in days]
    return keys if tenant_key is None else [f"{tenant_key}{TENANT_DAY_SEPARATOR}{key}" for key in keys]


def context_days(context: Any, tz: Any) -> tuple[dt.date, dt.date]:
    """Return the days a task run pulls by default: its partition's day, else :func:`run_days` of the run.

    A partitioned run (Airflow 3.2+) pulls exactly the day its partition key names (:func:`partition_day`);
    any other run the days of its data interval.
    """
    import pendulum

    from airflow_provider_feishu_workplace._compat import run_partition_key

    key = run_partition_key(context)
    if key is not None:
        day = partition_day(key)
        return day, day
    dag_run = context.get("dag_run")
    return run_days(
        context.get("data_interval_start"),
        context.get("data_interval_end"),
        getattr(dag_run, "start_date", None) or pendulum.now("UTC"),
        tz,
    )


def first_unfinished_day(now: Any, tz: Any) -> dt.date:
    """Return today's date in ``tz``: the first day whose data cannot be complete yet."""
    return _local_day(now, tz)


def day_end(day: dt.date, tz: Any) -> Any:
    """Return the moment ``day`` ends in ``tz``: midnight at the start of the next day there (aware)."""
    import pendulum

    following = day + ONE_DAY
    return pendulum.datetime(following.year, following.month, following.day, tz=tz)


def check_publishable_within(day: dt.date, tz: Any, wait: dt.timedelta, *, name: str = "date") -> None:
    """Refuse ``day`` if it ends (in ``tz``) after ``wait`` from now: Feishu publishes a day only after it ends.

    :param day: the day waited for.
    :param tz: the time zone days are counted in (a pendulum time zone).
    :param wait: how long the caller is prepared to wait (a sensor's ``timeout``).
    :param name: the argument that gave the day, for the message.
    :raises FeishuConfigError: naming the day, the wait and the fix.
    """
    import pendulum

    now = pendulum.now("UTC")
    end = day_end(day, tz)
    if end <= now + wait:
        return
    raise FeishuConfigError(
        f"{name}={day.isoformat()} ends at {end.isoformat()} ({tz.name}), after this sensor's timeout of "
        f"{wait} (from now) runs out at {(now + wait).in_timezone(tz).isoformat()}: Feishu publishes a day only "
        "after it ends, so waiting cannot succeed. Wait for a day that has ended (check date and the DAG's "
        "schedule or timezone), or raise timeout to cover the day's end."
    )


def _local_day(moment: Any, tz: Any) -> dt.date:
    return moment.astimezone(tz).date()


class AccessDataSource(Protocol):
    """What :func:`is_published` asks: ``FeishuWorkplaceHook`` (this module stays below the hooks it serves)."""

    def iter_access_data(
        self, dataset: str | SearchEndpoint, from_date: DateLike, to_date: DateLike, *, page_size: int | None = None
    ) -> Generator[dict[str, Any], None, None]: ...  # a generator: is_published closes it


def is_published(hook: AccessDataSource, data_set: str | SearchEndpoint, day: dt.date) -> bool:
    """Return whether ``data_set`` has an item for ``day``: one search request for one item of that day.

    Goes through the hook's one request path (token, pacing, retries of transient faults, answer checks);
    an error that outlasts the hook's retries, or that no retry can fix, is raised.

    :param hook: the hook to ask with.
    :param data_set: the data set to look at: a registered endpoint's name, or its record.
    :param day: the day.
    """
    items = hook.iter_access_data(data_set, day, day, page_size=1)
    try:
        first: Any = next(iter(items), None)
    finally:
        items.close()  # stop after the first page: one request per check
    return isinstance(first, dict) and first.get("date") == day.isoformat()
