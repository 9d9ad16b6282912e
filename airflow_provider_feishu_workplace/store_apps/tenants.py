"""The tenants that installed a store app, kept from the platform's events (there is no API that lists them).

One Airflow Variable per app holds every tenant's status and since when. ``app_open``,
``start_by_tenant`` and ``order_paid`` make a tenant active; ``stop_by_tenant`` and ``stop_by_platform``
stop it. An event older than what is stored for the tenant does not overwrite it (redeliveries arrive late).

Why one Variable per app rather than one per (app, tenant) plus an index: the index would itself be a
read-modify-write shared by every tenant, so it needs the same locked transaction; with one Variable the
registry is read in one query by the DAG that maps over it, and every change is one transaction that
holds the row (see :mod:`._variables`), so two API-server replicas recording events at once both land.
"""

from __future__ import annotations

import datetime as dt

from airflow_provider_feishu_workplace.store_apps._keys import tenants_key
from airflow_provider_feishu_workplace.store_apps._variables import Json, as_utc, read_json, update_json

__all__ = ["ACTIVE", "STOPPED", "TENANT_EVENTS", "active_tenants", "record_tenant_event", "tenants"]

ACTIVE = "active"
STOPPED = "stopped"
#: What each event (or ``app_status_change`` status) says about the tenant.
TENANT_EVENTS = {
    "app_open": ACTIVE,
    "start_by_tenant": ACTIVE,
    "order_paid": ACTIVE,
    "stop_by_tenant": STOPPED,
    "stop_by_platform": STOPPED,
}


def record_tenant_event(app_id: str, tenant_key: str, status: str, since: dt.datetime) -> None:
    """Record what an event says about ``tenant_key``, unless something newer is stored for it.

    :param status: the event's type (``app_open``, ``order_paid``) or ``app_status_change``'s status
        (``start_by_tenant``, ``stop_by_tenant``, ``stop_by_platform``).
    :param since: when the event happened (timezone-aware).
    """
    if status not in TENANT_EVENTS:
        raise ValueError(f"Tenant event {status!r} is not one of {sorted(TENANT_EVENTS)}.")
    if not isinstance(tenant_key, str) or not tenant_key.strip():
        raise ValueError(f"Tenant key {tenant_key!r} is empty: an event without tenant_key cannot be recorded.")
    when = as_utc(since, name="since")

    def recorded(current: Json | None) -> Json | None:
        registry = dict((current or {}).get("tenants", {}))
        stored = registry.get(tenant_key)
        if stored and dt.datetime.fromisoformat(stored["since"]) > when:
            return None
        registry[tenant_key] = {"status": TENANT_EVENTS[status], "event": status, "since": when.isoformat()}
        return {"tenants": registry}

    update_json(tenants_key(app_id), recorded, description=f"Feishu store app {app_id}: tenants from its events")


def tenants(app_id: str) -> dict[str, tuple[str, dt.datetime]]:
    """Return every tenant recorded for ``app_id``: tenant key -> (``active`` or ``stopped``, since when)."""
    registry = (read_json(tenants_key(app_id)) or {}).get("tenants", {})
    return {key: (entry["status"], dt.datetime.fromisoformat(entry["since"])) for key, entry in registry.items()}


def active_tenants(app_id: str) -> list[str]:
    """Return the tenant keys of ``app_id`` that are active now, sorted."""
    return sorted(key for key, (status, _) in tenants(app_id).items() if status == ACTIVE)
