"""Access-token issuing with the platform's 2 h lifetime and 30 min reuse rule."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass


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
    """

    PREFIXES = {"tenant": "t-", "app": "a-"}

    def __init__(self, lifetime: float, reuse_window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.lifetime = lifetime
        self.reuse_window = reuse_window
        self._clock = clock
        self._offset = 0.0
        self._lock = threading.Lock()
        self._tokens: dict[str, _Token] = {}
        self._current: dict[tuple[str, Hashable], str] = {}
        self._issued: list[str] = []

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
        """Forget every token and set the clock back: the issuer as it was made."""
        with self._lock:
            self._offset = 0.0
            self._tokens.clear()
            self._current.clear()
            self._issued.clear()

    @property
    def issued(self) -> list[str]:
        """Every token issued so far, oldest first (a copy)."""
        with self._lock:
            return list(self._issued)
