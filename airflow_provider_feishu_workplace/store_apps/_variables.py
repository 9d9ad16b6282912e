"""JSON values in Airflow Variables: read from any Airflow process, changed in one locked DB transaction.

Reads go through :func:`airflow_provider_feishu_workplace._compat.get_variable` (the Task SDK in an
Airflow 3 task, the metadata database elsewhere). Writes come from the receiver, which runs in the API
server (or the Airflow 2 webserver) beside the metadata database: each is a read-modify-write in one
transaction that holds the Variable's row (``SELECT ... FOR UPDATE``) where the database can, and whose
``UPDATE`` applies only if the row still holds the value read (compare-and-set). The second guard is what
makes SQLite right: its Python driver runs the ``SELECT`` outside the transaction, so two writers can read
the same value, and the compare-and-set makes the slower one read again instead of losing the other's
change. A first insert of a key fails on the unique key when another replica inserted it first, and
SQLite may answer "database is locked": both are retried from the read too.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from collections.abc import Callable
from typing import Any

__all__ = ["as_utc", "read_json", "update_json"]

Json = dict[str, Any]
_ATTEMPTS = 50


def read_json(key: str) -> Json | None:
    """Return the JSON object stored under ``key``, or ``None`` when the Variable does not exist."""
    from airflow_provider_feishu_workplace._compat import get_variable

    return _parse(key, get_variable(key))


def update_json(key: str, change: Callable[[Json | None], Json | None], *, description: str) -> Json | None:
    """Apply ``change`` to the value under ``key`` in one transaction that holds the row; return what is stored.

    :param change: given the current value (``None``: no Variable yet), returns the new value, or ``None``
        (or the same value) to leave it as it is. It may run more than once (after a lost race).
    :param description: the Variable's description when this call creates it.
    """
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session
    from sqlalchemy import select, update
    from sqlalchemy.exc import IntegrityError, OperationalError

    for attempt in range(_ATTEMPTS):
        try:
            with create_session() as session:
                row = session.scalars(select(Variable).where(Variable.key == key).with_for_update()).one_or_none()
                if row is not None and row.val is None:
                    # Airflow could not decrypt it (another Fernet key): never overwrite what cannot be read.
                    raise ValueError(
                        f"Airflow Variable {key!r} cannot be read here: give this process the same "
                        "[core] fernet_key as the others."
                    )
                current = _parse(key, row.val if row is not None else None)
                new = change(current)
                if new is None or new == current:
                    return current
                written = Variable(key=key, val=json.dumps(new, sort_keys=True), description=description)
                if row is None:
                    session.add(written)
                    return new
                swapped = session.execute(
                    update(Variable)
                    .where(Variable.key == key, Variable._val == row._val)
                    .values(_val=written._val, is_encrypted=written.is_encrypted)
                    .execution_options(synchronize_session=False)
                )
                if swapped.rowcount == 1:  # type: ignore[attr-defined]  # a CursorResult for an UPDATE
                    return new
        except (IntegrityError, OperationalError):
            if attempt == _ATTEMPTS - 1:
                raise
        # Another replica holds the row, just made it, or changed it since it was read: read again.
        time.sleep(random.uniform(0.005, 0.02) * min(attempt + 1, 10))
    raise RuntimeError(f"Airflow Variable {key!r} kept changing under {_ATTEMPTS} attempts to update it; try again.")


def _parse(key: str, text: str | None) -> Json | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        # The message names the Variable, never its value (it may hold a ticket).
        raise ValueError(
            f"Airflow Variable {key!r} does not hold the JSON object the provider writes there: delete it "
            "and let the receiver write it again."
        )
    return value


def as_utc(moment: dt.datetime, *, name: str) -> dt.datetime:
    """Return ``moment`` in UTC, or raise naming ``name`` when it has no time zone."""
    if not isinstance(moment, dt.datetime) or moment.tzinfo is None:
        raise ValueError(f"{name}={moment!r} is not a timezone-aware datetime: give one in UTC.")
    return moment.astimezone(dt.UTC)
