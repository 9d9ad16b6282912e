"""Airflow connections that point at a double: the JSON ``AIRFLOW_CONN_<ID>`` takes, and setting it.

Built here from the double's URL and credentials, without importing Airflow or the provider's hook:
the double stays an independent model of the platform.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

#: The fields of an Airflow connection in its JSON form.
_FIELDS = frozenset({"conn_type", "description", "host", "login", "password", "schema", "port", "extra"})
APP_TYPES = ("self_built", "store")


def connection_json(url: str, credentials: Mapping[str, str], app_type: str = "self_built", **overrides: Any) -> str:
    """The JSON form of a ``feishu`` connection to the double at ``url``.

    :param credentials: the double's ``app_id``, ``app_secret``, ``store_app_id``, ``store_app_secret``,
        ``app_ticket`` and ``tenant_key``.
    :param app_type: ``"self_built"`` (app id and secret) or ``"store"`` (the store app, with its
        app ticket and tenant key in the extras ``app_ticket_secret`` and ``tenant_key``).
    :param overrides: connection fields to change (``host``, ``login``, ``password``, ...); ``None``
        leaves a field out. ``extra`` is merged into the extras the same way.
    """
    if app_type not in APP_TYPES:
        raise ValueError(f"app_type must be one of {list(APP_TYPES)}, not {app_type!r}")
    unknown = set(overrides) - _FIELDS
    if unknown:
        raise ValueError(
            f"{sorted(unknown)} are not connection fields; use {sorted(_FIELDS)} "
            "(app_ticket_secret and tenant_key go in extra={...})"
        )
    if app_type == "store":
        conn: dict[str, Any] = {
            "conn_type": "feishu",
            "host": url,
            "login": credentials["store_app_id"],
            "password": credentials["store_app_secret"],
            "extra": {
                "app_type": "store",
                # The provider's extra for the ticket; Airflow hides *_secret extras like the password.
                "app_ticket_secret": credentials["app_ticket"],
                "tenant_key": credentials["tenant_key"],
            },
        }
    else:
        conn = {"conn_type": "feishu", "host": url}
        conn.update(login=credentials["app_id"], password=credentials["app_secret"])
    extra = overrides.pop("extra", None)
    if isinstance(extra, dict):
        merged = {**conn.get("extra", {}), **extra}
        conn["extra"] = {key: value for key, value in merged.items() if value is not None}
    elif extra is not None:
        raise TypeError(f"extra must be a dict of extras, not {type(extra).__name__}")
    conn.update(overrides)
    return json.dumps({key: value for key, value in conn.items() if value is not None})


def env_var(conn_id: str) -> str:
    """The environment variable Airflow reads connection ``conn_id`` from."""
    if not isinstance(conn_id, str) or not conn_id:
        raise ValueError(f"conn_id must be a non-empty string, not {conn_id!r}")
    return f"AIRFLOW_CONN_{conn_id.upper()}"


@contextmanager
def connection_env(conn_id: str, connection: str) -> Iterator[str]:
    """Set connection ``conn_id`` in the environment; on exit put back what was there. Yields ``conn_id``."""
    name = env_var(conn_id)
    previous = os.environ.get(name)
    os.environ[name] = connection
    try:
        yield conn_id
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous
