"""The store app's latest pushed ``app_ticket``, one per app id, readable by every Airflow process.

Kept in an Airflow Variable whose key holds ``secret``, so Airflow masks its value in the UI, the REST API
and logs. The receiver (in the API server or webserver) writes it; workers and the triggerer read it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

__all__ = ["StoredTicket", "latest_ticket", "save_ticket", "ticket_variable_key"]


@dataclass(frozen=True)
class StoredTicket:
    """A pushed app ticket and when it was pushed (UTC); the ticket is kept out of ``repr``."""

    ticket: str = field(repr=False)
    received_at: dt.datetime


def ticket_variable_key(app_id: str) -> str:
    """The Variable key of ``app_id``'s ticket (holds ``secret``: Airflow masks the value)."""
    raise NotImplementedError


def latest_ticket(app_id: str) -> StoredTicket | None:
    """Return the newest ticket stored for ``app_id``, or ``None`` when none was pushed yet."""
    raise NotImplementedError


def save_ticket(app_id: str, ticket: str, received_at: dt.datetime) -> None:
    """Store ``ticket`` for ``app_id`` unless a ticket pushed later is stored already."""
    raise NotImplementedError
