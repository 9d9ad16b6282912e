"""One overall deadline per request, body included.

``requests``' ``timeout`` bounds each socket read, not the request: a server that trickles a byte every
tenth of a second keeps a request alive for as long as it likes. Here every request runs under a
:class:`RequestDeadline`: the connection pool records the connection the request takes, and when the
deadline passes a timer shuts that connection's socket down, which ends any read or TLS handshake
blocked on it at once. The hook then reports a timeout.

Imported only when the hook builds its session (it imports ``requests``).
"""

from __future__ import annotations

import heapq
import itertools
import os
import socket
import threading
import time
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_current = threading.local()


class RequestDeadline:
    """Shut down the connection of the request sent inside this context once ``seconds`` have passed.

    The connection's socket is remembered through a duplicate of its file descriptor, taken as soon as the
    socket exists (before any TLS handshake): the duplicate stays valid however urllib3 closes or wraps the
    socket, so the shutdown can never hit a descriptor the system has reused for something else.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._done = False
        self._descriptors: list[int] = []
        self._lock = threading.Lock()

    def __enter__(self) -> RequestDeadline:
        _current.deadline = self
        _watchdog.schedule(time.monotonic() + self.seconds, self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        _current.deadline = None
        with self._lock:
            self._done = True
            descriptors, self._descriptors = self._descriptors, []
        for descriptor in descriptors:
            os.close(descriptor)

    def track(self, sock: Any) -> None:
        """Remember a socket the request uses (called in the request's thread)."""
        try:
            descriptor = os.dup(sock.fileno())
        except (OSError, ValueError):
            return
        with self._lock:
            if self._done:
                os.close(descriptor)
                return
            self._descriptors.append(descriptor)
            if self.expired:
                _shut(descriptor)

    def _expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            for descriptor in self._descriptors:
                _shut(descriptor)


class _Watchdog:
    """One thread per process that expires the deadlines due (a thread per request would cost ~0.1 ms)."""

    def __init__(self) -> None:
        self._due: list[tuple[float, int, RequestDeadline]] = []
        self._condition = threading.Condition()
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def schedule(self, when: float, deadline: RequestDeadline) -> None:
        with self._condition:
            heapq.heappush(self._due, (when, next(self._order), deadline))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="feishu-request-deadlines", daemon=True)
                self._thread.start()
            elif self._due[0][2] is deadline:
                self._condition.notify()

    def _run(self) -> None:
        with self._condition:
            while True:
                while self._due and self._due[0][2]._done:
                    heapq.heappop(self._due)  # finished in time
                if not self._due:
                    self._condition.wait()
                    continue
                when = self._due[0][0]
                now = time.monotonic()
                if when > now:
                    self._condition.wait(when - now)
                    continue
                heapq.heappop(self._due)[2]._expire()

    def _after_fork(self) -> None:
        type(self).__init__(self)


_watchdog = _Watchdog()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_watchdog._after_fork)


def _shut(descriptor: int) -> None:
    """Shut the socket down for both directions: a read blocked on it in another thread returns at once."""
    sock = socket.socket(fileno=os.dup(descriptor))
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.close()


def _track(sock: Any) -> None:
    deadline = getattr(_current, "deadline", None)
    if deadline is not None and sock is not None:
        deadline.track(sock)


class _TrackedHTTPConnection(HTTPConnection):
    def _new_conn(self):
        sock = super()._new_conn()
        _track(sock)  # before any TLS handshake, which a slow server could stretch too
        return sock


class _TrackedHTTPSConnection(HTTPSConnection):
    def _new_conn(self):
        sock = super()._new_conn()
        _track(sock)
        return sock


class _TrackedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _TrackedHTTPConnection

    def _get_conn(self, timeout: float | None = None):
        connection = super()._get_conn(timeout)
        _track(getattr(connection, "sock", None))  # a kept-alive connection: its socket exists already
        return connection


class _TrackedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _TrackedHTTPSConnection

    def _get_conn(self, timeout: float | None = None):
        connection = super()._get_conn(timeout)
        _track(getattr(connection, "sock", None))
        return connection


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
