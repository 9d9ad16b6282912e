"""Turn the date values users pass into the API's ``yyyy-MM-dd`` days, or fail naming the bad value."""

from __future__ import annotations

import datetime as dt
import re

from airflow_provider_feishu_workplace.exceptions import FeishuConfigError

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")

DateLike = str | dt.date | dt.datetime


def to_day(value: DateLike, *, name: str) -> dt.date:
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


def to_day_range(from_date: DateLike, to_date: DateLike) -> tuple[dt.date, dt.date]:
    """Return ``(from_day, to_day)`` after checking that the range is not reversed."""
    first = to_day(from_date, name="from_date")
    last = to_day(to_date, name="to_date")
    if first > last:
        raise FeishuConfigError(
            f"from_date={first.isoformat()} is after to_date={last.isoformat()}: swap them or fix the range."
        )
    return first, last
