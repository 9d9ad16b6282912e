"""The platform's side of a store app's event callback: it pushes signed, encrypted events and retries them.

:class:`EventPusher` plays what the Open Platform does for one store app: on start, every
``ticket_interval`` seconds and whenever the app calls ``app_ticket/resend``, it issues a new
``app_ticket`` (accepted by the double's token endpoint for the issuer's ``ticket_lifetime``) and pushes
it; it pushes ``app_open`` / ``app_status_change`` / ``order_paid`` when asked. A delivery that gets no
HTTP 200 within ``timeout`` seconds is sent again after each of ``retry_delays`` (the platform's, by
default: 15 s, 5 min, 1 h, 6 h), with a fresh timestamp, nonce and signature and the same ``uuid``.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_feishu_workplace.testing._events import deliver, envelope

if TYPE_CHECKING:
    from airflow_provider_feishu_workplace.testing._auth import Credentials
    from airflow_provider_feishu_workplace.testing._double import FeishuDouble
    from airflow_provider_feishu_workplace.testing._tokens import TokenIssuer

__all__ = ["PLATFORM_RETRY_DELAYS", "TENANT_EVENT_TYPES", "EventPusher", "PushRecord"]

#: The platform's redelivery delays after a failed delivery (reported, not in the official pages).
PLATFORM_RETRY_DELAYS = (15.0, 300.0, 3600.0, 21600.0)
TENANT_EVENT_TYPES = ("app_open", "app_status_change", "order_paid")
_STATUSES = ("start_by_tenant", "stop_by_tenant", "stop_by_platform")
# Straight to the callback: no proxy from the environment, as the platform posts to the URL itself.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class PushRecord:
    """One pushed event: its id and type, the HTTP status of each attempt (``None``: no answer in time)."""

    event_id: str
    event_type: str
    statuses: list[int | None] = field(default_factory=list)
    delivered: bool = False
    #: The event's payload before encryption (holds the ticket: never log it).
    payload: dict[str, Any] = field(default_factory=dict, repr=False)


class EventPusher:
    """Push a store app's events to its callback URL as the platform does (see the module's docstring).

    :param issuer: the double's token issuer (it issues and checks the tickets, and reports resends).
    :param credentials: the double's apps (the store app's id is the events' ``app_id``).
    :param callback_url: where the app receives events, e.g. ``https://airflow.example/feishu/events/feishu_store``.
    :param encrypt_key: the app's Encrypt Key; ``None`` pushes plain, unsigned events.
    :param verification_token: the app's verification token, put in every event.
    :param ticket_interval: seconds between ticket pushes (the platform's hour by default).
    :param timeout: seconds a delivery waits for its HTTP 200 before it counts as failed.
    :param retry_delays: seconds before each redelivery of a failed delivery.
    """

    def __init__(
        self,
        issuer: TokenIssuer,
        credentials: Credentials,
        callback_url: str,
        *,
        encrypt_key: str | None,
        verification_token: str,
        ticket_interval: float = 3600.0,
        timeout: float = 3.0,
        retry_delays: tuple[float, ...] = PLATFORM_RETRY_DELAYS,
    ) -> None:
        if not callback_url.startswith(("http://", "https://")):
            raise ValueError(f"callback_url={callback_url!r} must be an http(s) URL.")
        if ticket_interval <= 0 or timeout <= 0 or any(delay < 0 for delay in retry_delays):
            raise ValueError("ticket_interval and timeout must be > 0 and retry_delays >= 0 (seconds).")
        self._issuer = issuer
        self._app_id = credentials.store_app_id
        self.callback_url = callback_url
        self._encrypt_key = encrypt_key
        self._token = verification_token
        self.ticket_interval = ticket_interval
        self._timeout = timeout
        self._retry_delays = tuple(retry_delays)
        self._records: dict[str, PushRecord] = {}
        self._queue: list[tuple[float, int, str]] = []  # (when, order, event id)
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._remove_listener: Callable[[], None] | None = None
        self._next_ticket_at = 0.0

    @classmethod
    def for_double(cls, double: FeishuDouble, callback_url: str, **options: Any) -> EventPusher:
        """A pusher for ``double``'s store app (options as in the constructor)."""
        return cls(double._issuer, double.credentials, callback_url, **options)

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> EventPusher:
        """Push a first ticket now and start the background thread; returns the pusher."""
        if self._thread is not None:
            return self
        self._stopping = False
        self._remove_listener = self._issuer.on_resend(self.push_ticket)
        self._next_ticket_at = time.monotonic()  # the thread pushes the first ticket at once
        self._thread = threading.Thread(target=self._run, name="feishu-double-events", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop pushing (deliveries not made are dropped); safe to repeat."""
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self._timeout + 5)
            self._thread = None

    def __enter__(self) -> EventPusher:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- pushing ---------------------------------------------------------------------------

    def push_ticket(self) -> str:
        """Issue a new app ticket and queue its push; returns the event's id."""
        ticket = self._issuer.issue_ticket()
        return self._queue_event(envelope("app_ticket", {"app_ticket": ticket}, app_id=self._app_id, token=self._token))

    def push_tenant_event(self, event_type: str, tenant_key: str, *, status: str | None = None) -> str:
        """Queue a tenant event; returns its id.

        :param event_type: ``app_open``, ``app_status_change`` (with ``status``) or ``order_paid``.
        :param status: for ``app_status_change``: ``start_by_tenant``, ``stop_by_tenant`` or ``stop_by_platform``.
        """
        if event_type not in TENANT_EVENT_TYPES:
            raise ValueError(f"event_type={event_type!r} is not one of {list(TENANT_EVENT_TYPES)}.")
        if not isinstance(tenant_key, str) or not tenant_key:
            raise ValueError(f"tenant_key={tenant_key!r}: give the tenant's key.")
        fields: dict[str, Any] = {"tenant_key": tenant_key}
        if event_type == "app_status_change":
            if status not in _STATUSES:
                raise ValueError(f"status={status!r} is not one of {list(_STATUSES)} (app_status_change).")
            fields.update(status=status, operator={"open_id": "ou_double_admin"})
        elif status is not None:
            raise ValueError(f"status is for app_status_change only, not {event_type!r}.")
        elif event_type == "app_open":
            fields.update(applicants=[{"open_id": "ou_double_user"}], installer={"open_id": "ou_double_admin"})
        else:
            fields.update(order_id=f"order_{uuid.uuid4().hex[:12]}", price_plan_id="price_double", buy_type="buy")
        from airflow_provider_feishu_workplace.store_apps.tenants import ACTIVE, TENANT_EVENTS

        # The platform's own state changes when the event happens, whether or not the app receives it.
        self._issuer.set_tenant(tenant_key, TENANT_EVENTS[status or event_type] == ACTIVE)
        return self._queue_event(envelope(event_type, fields, app_id=self._app_id, token=self._token))

    @property
    def records(self) -> list[PushRecord]:
        """Every event pushed so far, oldest first (copies)."""
        with self._changed:
            return [
                PushRecord(r.event_id, r.event_type, list(r.statuses), r.delivered, dict(r.payload))
                for r in self._records.values()
            ]

    def wait_delivered(self, event_id: str, timeout: float = 10.0) -> PushRecord:
        """Wait until ``event_id`` got its HTTP 200; return its record, or raise ``TimeoutError``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not self._records[event_id].delivered:
                left = deadline - time.monotonic()
                if left <= 0:
                    record = self._records[event_id]
                    raise TimeoutError(
                        f"event {event_id} ({record.event_type}) not delivered to {self.callback_url} in "
                        f"{timeout} s: answers so far {record.statuses}"
                    )
                self._changed.wait(left)
            return self._records[event_id]

    def _queue_event(self, payload: dict[str, Any]) -> str:
        event_id = payload["uuid"]
        with self._changed:
            self._records[event_id] = PushRecord(event_id, payload["event"]["type"], payload=payload)
            heapq.heappush(self._queue, (time.monotonic(), next(self._order), event_id))
            self._changed.notify_all()
        return event_id

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._stopping:
                    now = time.monotonic()
                    due = min(self._next_ticket_at, self._queue[0][0] if self._queue else float("inf"))
                    if due <= now:
                        break
                    self._changed.wait(due - now)
                if self._stopping:
                    return
                ticket_due = self._next_ticket_at <= time.monotonic()
                if ticket_due:
                    self._next_ticket_at = time.monotonic() + self.ticket_interval
                item = heapq.heappop(self._queue) if self._queue and self._queue[0][0] <= time.monotonic() else None
            if ticket_due:
                self.push_ticket()
            if item is not None:
                self._attempt(item[2])

    def _attempt(self, event_id: str) -> None:
        with self._changed:
            record = self._records[event_id]
        delivery = deliver(record.payload, encrypt_key=self._encrypt_key)  # fresh timestamp, nonce, signature
        request = urllib.request.Request(self.callback_url, data=delivery.body, headers=delivery.headers, method="POST")
        status: int | None
        try:
            with _OPENER.open(request, timeout=self._timeout) as answer:
                answer.read()
                status = answer.status
        except urllib.error.HTTPError as error:
            status = error.code
        except OSError:  # refused, reset, or no answer in time
            status = None
        with self._changed:
            record.statuses.append(status)
            record.delivered = status == 200
            attempt = len(record.statuses)
            if not record.delivered and attempt <= len(self._retry_delays):
                when = time.monotonic() + self._retry_delays[attempt - 1]
                heapq.heappush(self._queue, (when, next(self._order), event_id))
            self._changed.notify_all()
