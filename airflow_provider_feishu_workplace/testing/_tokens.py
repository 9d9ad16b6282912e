"""Access-token issuing with the platform's 2 h lifetime and 30 min reuse rule, and store apps' app tickets."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

#: How long a pushed app ticket is accepted: the documentation does not say; the SDKs keep one for 12 h.
TICKET_LIFETIME = 12 * 3600.0


@dataclass
class _Token:
    kind: str
    owner: Hashable
    expires_at: float


class TokenIssuer:
    """Issue and check ``tenant_access_token`` and ``app_access_token`` strings.

    Asking again for an owner's token returns the same token while more than ``reuse_window``
    seconds of it remain; inside that window a fresh token is issued and the old one stays valid
    until its own expiry, as on the real platform. Time runs on a private clock that
    :meth:`advance` moves forward.

    :param lifetime: seconds a new token lives.
    :param reuse_window: a token with this many seconds left or fewer is not handed out again.
    :param clock: the real clock the private clock is built on.
    :param ticket_lifetime: seconds an app ticket is accepted after it is issued (the connection's static
        ticket counts from the issuer's start).
    """

    PREFIXES = {"tenant": "t-", "app": "a-"}

    def __init__(
        self,
        lifetime: float,
        reuse_window: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        ticket_lifetime: float = TICKET_LIFETIME,
    ) -> None:
        self.lifetime = lifetime
        self.ticket_lifetime = ticket_lifetime
        self.reuse_window = reuse_window
        self._clock = clock
        self._offset = 0.0
        self._lock = threading.Lock()
        self._tokens: dict[str, _Token] = {}
        self._current: dict[tuple[str, Hashable], str] = {}
        self._issued: list[str] = []
        self._tickets: dict[str, float] = {}  # ticket -> when it stops being accepted
        self._initial_ticket_expires_at = self.now() + ticket_lifetime
        self._resend_listeners: list[Callable[[], None]] = []
        self._tenants: dict[str, bool] = {}  # tenant key -> whether the store app is enabled there (from events)

    def now(self) -> float:
        """The issuer's clock, in seconds."""
        return self._clock() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the issuer's clock forward by ``seconds``."""
        with self._lock:
            self._offset += seconds

    def issue(self, kind: str, owner: Hashable) -> tuple[str, int]:
        """Return ``(token, remaining seconds)`` for ``owner``, reusing the current token if allowed.

        :param kind: ``"tenant"`` or ``"app"``.
        :param owner: who the token is for, e.g. ``(app_id, tenant_key)``.
        """
        with self._lock:
            now = self.now()
            current = self._tokens.get(self._current.get((kind, owner), ""))
            if current is not None and current.expires_at - now > self.reuse_window:
                return self._current[(kind, owner)], int(current.expires_at - now)
            token = f"{self.PREFIXES[kind]}g1044{secrets.token_hex(18).upper()}"
            self._tokens[token] = _Token(kind, owner, now + self.lifetime)
            self._current[(kind, owner)] = token
            self._issued.append(token)
            return token, int(self.lifetime)

    def owner_of(self, token: str, kind: str) -> Hashable | None:
        """The owner of a valid, unexpired token of ``kind``, or ``None``."""
        with self._lock:
            record = self._tokens.get(token)
            if record is None or record.kind != kind or record.expires_at <= self.now():
                return None
            return record.owner

    def expire_all(self, kind: str) -> None:
        """Make every token of ``kind`` expire now."""
        with self._lock:
            now = self.now()
            for record in self._tokens.values():
                if record.kind == kind and record.expires_at > now:
                    record.expires_at = now

    def reset(self) -> None:
        """Forget every token and ticket and set the clock back: the issuer as it was made."""
        with self._lock:
            self._offset = 0.0
            self._tokens.clear()
            self._current.clear()
            self._issued.clear()
            self._tickets.clear()
            self._initial_ticket_expires_at = self.now() + self.ticket_lifetime
            self._tenants.clear()

    # -- app tickets (store apps) ----------------------------------------------------------

    def issue_ticket(self) -> str:
        """Issue a new app ticket, accepted for :attr:`ticket_lifetime` seconds (older ones stay, until theirs)."""
        with self._lock:
            ticket = f"tk-{secrets.token_hex(16)}"
            self._tickets[ticket] = self.now() + self.ticket_lifetime
            return ticket

    def ticket_valid(self, ticket: str, *, initial: str) -> bool:
        """Whether ``ticket`` is accepted now; ``initial`` is the static ticket the double was made with."""
        with self._lock:
            expires_at = self._initial_ticket_expires_at if ticket == initial else self._tickets.get(ticket)
            return expires_at is not None and self.now() < expires_at

    def expire_tickets(self) -> None:
        """Make every app ticket issued so far (and the initial one) stop being accepted now."""
        with self._lock:
            now = self.now()
            self._initial_ticket_expires_at = min(self._initial_ticket_expires_at, now)
            self._tickets = {ticket: min(expires, now) for ticket, expires in self._tickets.items()}

    # -- tenants of the store app ----------------------------------------------------------

    def set_tenant(self, tenant_key: str, enabled: bool) -> None:
        """Record that the store app was enabled or stopped in ``tenant_key`` (stopping ends its tokens)."""
        with self._lock:
            self._tenants[tenant_key] = enabled
            if not enabled:
                now = self.now()
                for record in self._tokens.values():
                    owner = record.owner
                    if record.kind == "tenant" and isinstance(owner, tuple) and owner[-1] == tenant_key:
                        record.expires_at = min(record.expires_at, now)

    def tenant_enabled(self, tenant_key: str) -> bool | None:
        """Whether the store app is enabled in ``tenant_key`` by a pushed event; ``None``: no event said."""
        with self._lock:
            return self._tenants.get(tenant_key)

    def on_resend(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` when an app asks for its ticket again; returns what removes the listener."""
        with self._lock:
            self._resend_listeners.append(listener)

        def remove() -> None:
            with self._lock:
                if listener in self._resend_listeners:
                    self._resend_listeners.remove(listener)

        return remove

    def resend_requested(self) -> None:
        """An app asked ``app_ticket/resend``: tell the listeners (they push a new ticket)."""
        with self._lock:
            listeners = list(self._resend_listeners)
        for listener in listeners:
            listener()

    @property
    def issued(self) -> list[str]:
        """Every token issued so far, oldest first (a copy)."""
        with self._lock:
            return list(self._issued)
