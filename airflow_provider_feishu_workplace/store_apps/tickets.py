"""The store app's latest pushed ``app_ticket``, one per app id, readable by every Airflow process.

Kept in an Airflow Variable whose key holds ``secret``, so Airflow masks its value in the UI, the REST API
and logs (and encrypts it with the Fernet key in the metadata database). The receiver (in the API server
or webserver) writes it; workers and the triggerer read it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from airflow_provider_feishu_workplace._compat import seal_secret
from airflow_provider_feishu_workplace.store_apps._keys import ticket_key
from airflow_provider_feishu_workplace.store_apps._variables import Json, as_utc, read_json, update_json

__all__ = ["StoredTicket", "latest_ticket", "save_ticket", "ticket_variable_key"]

ticket_variable_key = ticket_key
# The ticket's field in the Variable's JSON value. Its name holds "secret" too: Airflow 3.0's REST API masks a
# JSON value by its own field names only (3.3 also by the Variable's key): it showed a "ticket" field.
_FIELD = "app_ticket_secret"
_FIELD_BEFORE_0_2_1 = "ticket"  # a ticket stored by 0.2.0 is still read, until the next push replaces it


@dataclass(frozen=True)
class StoredTicket:
    """A pushed app ticket and when it was pushed (UTC); the ticket is kept out of ``repr``."""

    ticket: str = field(repr=False)
    received_at: dt.datetime


def latest_ticket(app_id: str) -> StoredTicket | None:
    """Return the newest ticket stored for ``app_id``, or ``None`` when none was pushed yet."""
    value = read_json(ticket_key(app_id)) or {}
    sealed = value.get(_FIELD) or value.get(_FIELD_BEFORE_0_2_1)
    if not sealed:
        return None
    from airflow_provider_feishu_workplace._compat import mask_secret, reveal_secret

    ticket = reveal_secret(sealed)
    mask_secret(ticket)  # the Variable's value is masked as a whole; the ticket on its own too
    return StoredTicket(ticket=ticket, received_at=dt.datetime.fromisoformat(value["received_at"]))


def save_ticket(app_id: str, ticket: str, received_at: dt.datetime) -> None:
    """Store ``ticket`` for ``app_id`` unless a ticket pushed at the same time or later is stored already.

    :param received_at: when the platform pushed it (timezone-aware); redeliveries of an older push
        arriving late do not replace a newer ticket.
    """
    if not ticket:
        raise ValueError(f"An empty app ticket for app {app_id!r} cannot be stored.")
    when = as_utc(received_at, name="received_at")

    def newer(current: Json | None) -> Json | None:
        if current and current.get("received_at") and dt.datetime.fromisoformat(current["received_at"]) >= when:
            return None
        return {_FIELD: seal_secret(ticket), "received_at": when.isoformat()}

    update_json(ticket_key(app_id), newer, description=f"Feishu store app {app_id}: the latest pushed app ticket")
