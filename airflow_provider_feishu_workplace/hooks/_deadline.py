"""One overall deadline per request, body included.

``requests``' ``timeout`` bounds each socket read, not the request: a server that trickles a byte every
tenth of a second keeps a request alive for as long as it likes. Here every request runs under a
:class:`RequestDeadline`: the connection pool records the connection the request takes, and when the
deadline passes a timer shuts that connection's socket down, which ends any read or TLS handshake
blocked on it at once. The hook then reports a timeout.

Imported only when the hook builds its session (it imports ``requests``).
"""

from __future__ import annotations

import socket
import threading
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_current = threading.local()


class RequestDeadline:
    """Shut down the connection of the request sent inside this context once ``seconds`` have passed."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._connections: list[Any] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> RequestDeadline:
        _current.deadline = self
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()
        _current.deadline = None

    def track(self, connection: Any) -> None:
        """Remember a connection the request uses (called by the pools below, in the request's thread)."""
        with self._lock:
            self._connections.append(connection)
            expired = self.expired
        if expired:
            _shut(connection)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            connections = list(self._connections)
        for connection in connections:
            _shut(connection)


def _shut(connection: Any) -> None:
    sock = getattr(connection, "sock", None)
    if sock is None:
        return
    try:
        # The plain socket's shutdown, also for a TLS socket: it wakes a read blocked in another thread.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


def _track(connection: Any) -> Any:
    deadline = getattr(_current, "deadline", None)
    if deadline is not None:
        deadline.track(connection)
    return connection


class _TrackedHTTPConnectionPool(HTTPConnectionPool):
    def _get_conn(self, timeout: float | None = None):
        return _track(super()._get_conn(timeout))


class _TrackedHTTPSConnectionPool(HTTPSConnectionPool):
    def _get_conn(self, timeout: float | None = None):
        return _track(super()._get_conn(timeout))


_POOL_CLASSES = {"http": _TrackedHTTPConnectionPool, "https": _TrackedHTTPSConnectionPool}


class DeadlineAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose connection pools let a :class:`RequestDeadline` cut their connections."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOL_CLASSES)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = dict(_POOL_CLASSES)
        return manager
