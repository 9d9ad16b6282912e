"""Which calendar days one Airflow run pulls, and whether those days are over yet."""

from __future__ import annotations

import datetime as dt
from typing import Any

ONE_DAY = dt.timedelta(days=1)


def days_covered(
    *,
    data_interval_start: Any | None,
    data_interval_end: Any | None,
    run_start: Any | None,
    tz: Any,
) -> tuple[dt.date, dt.date]:
    """Return the first and last calendar day (in ``tz``) a run without an explicit date pulls.

    The days run from the day of ``data_interval_start`` to the day before ``data_interval_end``.
    An empty interval (Airflow 3's default ``@daily`` timetable starts and ends the interval at
    the same moment) gives the single day before its end; so does a run with no interval, from
    its start.

    :param data_interval_start: the run's data interval start (aware datetime), or ``None``.
    :param data_interval_end: the run's data interval end, or ``None``.
    :param run_start: when the run started, used when there is no interval.
    :param tz: the pendulum time zone the days are counted in.
    """
    if data_interval_end is None:
        if run_start is None:
            raise ValueError("The run has neither a data interval nor a start date: pass date='YYYY-MM-DD'.")
        last = _local_day(run_start, tz) - ONE_DAY
        return last, last
    last = _local_day(data_interval_end, tz) - ONE_DAY
    first = _local_day(data_interval_start, tz) if data_interval_start is not None else last
    return (first, last) if first <= last else (last, last)


def first_unfinished_day(now: Any, tz: Any) -> dt.date:
    """Return today's date in ``tz``: the first day whose data cannot be complete yet."""
    return _local_day(now, tz)


def _local_day(moment: Any, tz: Any) -> dt.date:
    return moment.astimezone(tz).date()
