"""What a store app's hook does without a usable app ticket: ask for a push, wait for it, or say what to check.

The platform pushes a new ticket after ``POST /open-apis/auth/v3/app_ticket/resend``, asynchronously, to
the app's event callback (the receiver stores it). Asking is rate-limited per app across every worker:
the time of the last ask is kept in an Airflow Variable, and a worker within :data:`RESEND_INTERVAL_SECONDS`
of it only waits for the push already asked for.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable

from airflow_provider_feishu_workplace.exceptions import FeishuTransientError
from airflow_provider_feishu_workplace.store_apps._keys import resend_key
from airflow_provider_feishu_workplace.store_apps.tickets import latest_ticket

__all__ = ["RESEND_INTERVAL_SECONDS", "recover_ticket"]

#: At most one resend per app in this many seconds, across all workers.
RESEND_INTERVAL_SECONDS = 180
_POLL_SECONDS = 1.0


def recover_ticket(
    app_id: str,
    *,
    stale: str | None,
    reason: str,
    resend: Callable[[], None],
    conn_id: str,
    wait: float,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Return a stored ticket other than ``stale``, after asking the platform to push one if none is stored.

    :param stale: the ticket the platform refused (``None``: there was none).
    :param reason: why a ticket is needed, for the error message.
    :param resend: sends ``app_ticket/resend`` (the hook's request funnel).
    :param wait: seconds to wait for the push.
    :raises FeishuTransientError: no new ticket arrived in time (a rerun can help once the push works).
    """
    fresh = _fresh(app_id, stale)
    if fresh is not None:
        return fresh  # another worker's resend, or the hourly push, already brought one
    asked = _resend_if_due(app_id, resend)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        sleep(min(_POLL_SECONDS, max(0.0, deadline - time.monotonic())))
        fresh = _fresh(app_id, stale)
        if fresh is not None:
            return fresh
    raise FeishuTransientError(
        f"Store app {app_id} has no usable app_ticket ({reason}). {asked} and waited {wait:.0f} s, but no new "
        f"ticket reached Airflow. Check that the app's event callback URL in the developer console is "
        f"https://<your Airflow API server>/feishu/events/{conn_id}, reachable from the internet, that connection "
        f"{conn_id!r}'s extras encrypt_key_secret and verification_token equal the console's Encrypt Key and "
        "Verification Token, and the API server's log for 'Feishu event' lines."
    )


def _fresh(app_id: str, stale: str | None) -> str | None:
    stored = latest_ticket(app_id)
    return stored.ticket if stored is not None and stored.ticket != stale else None


def _resend_if_due(app_id: str, resend: Callable[[], None]) -> str:
    """Ask for a push unless a worker asked within the interval; return what was done, for the message."""
    from airflow_provider_feishu_workplace._compat import get_variable, set_variable

    now = dt.datetime.now(dt.UTC)
    try:
        last = dt.datetime.fromisoformat(json.loads(get_variable(resend_key(app_id)) or "{}")["at"])
    except (KeyError, ValueError, TypeError):
        last = None
    if last is not None and (now - last).total_seconds() < RESEND_INTERVAL_SECONDS:
        return (
            f"A push was already asked for at {last:%H:%M:%S} UTC (app_ticket/resend, at most every "
            f"{RESEND_INTERVAL_SECONDS} s per app)"
        )
    set_variable(
        resend_key(app_id),
        json.dumps({"at": now.isoformat()}),
        description=f"Feishu store app {app_id}: when a worker last asked for the app ticket again",
    )
    resend()
    return f"Asked Feishu to push a new one (app_ticket/resend at {now:%H:%M:%S} UTC)"
