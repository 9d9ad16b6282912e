"""Pacing shared by every process of one app: the platform's limit is per app, not per worker.

A shared pacer hands out request slots ``1 / rate`` seconds apart from one schedule kept outside the
process, so the sum over every task process of the app stays under the rate:

- ``redis://[:password@]host:port/db`` (or ``rediss://``): the schedule is one Redis key per app and
  rate-limit group, advanced atomically by a Lua script on Redis's own clock. For workers on several machines.
- ``file:///some/folder``: one small file per app and rate-limit group under that folder, advanced under an
  exclusive ``flock``. For workers on one machine (or a shared POSIX file system with working locks).

Nothing secret goes into keys or file names (they hold a digest of the origin, app id and group), and a
URL's password never appears in messages.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from urllib.parse import urlsplit

from airflow_provider_feishu_workplace.exceptions import FeishuConfigError

log = logging.getLogger(__name__)

SCHEMES = ("redis", "rediss", "file")
# A schedule further ahead of the clock than this is stale (the clock went back): start again from now.
MAX_AHEAD_SECONDS = 60
# After the backend fails, pace locally this long before trying it again (a dead host costs a timeout).
RETRY_BACKEND_AFTER_SECONDS = 30
# Reserve the next slot: returns the microseconds to wait for it, on the server's clock.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
-- a schedule far ahead of the clock (the clock went back) starts again from now
if slot > now + tonumber(ARGV[2]) then slot = now end
slot = math.max(now, slot)
local next_slot = slot + tonumber(ARGV[1])
redis.call('SET', KEYS[1], next_slot, 'PX', math.ceil((next_slot - now) / 1000) + 60000)
return slot - now
"""


def shown_url(url: str) -> str:
    """``url`` without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


def check_url(url: str) -> str:
    """Return ``url`` if it names a shared pacing backend, else raise naming the fix."""
    scheme = urlsplit(url).scheme.lower() if isinstance(url, str) else ""
    if scheme not in SCHEMES or (scheme == "file" and not urlsplit(url).path.startswith("/")):
        raise FeishuConfigError(
            f"shared rate limit {shown_url(url) if isinstance(url, str) else url!r} is not usable: give "
            "'redis://host:6379/0' (workers on several machines) or 'file:///an/absolute/folder' (one machine)."
        )
    return url


def key_digest(key: tuple) -> str:
    """A short, stable digest of the pacing key (origin, app id, path, rate)."""
    return hashlib.sha256(repr(key).encode()).hexdigest()[:32]


class RedisPacer:
    """Spaces calls to ``wait()`` of every process sharing ``url`` and ``key`` ``1 / rate`` seconds apart."""

    def __init__(self, url: str, key: tuple, requests_per_second: float) -> None:
        self._url = url
        self._key = f"feishu:pace:{key_digest(key)}"
        self._interval_us = max(1, round(1_000_000 / requests_per_second))
        self._script = _redis_script(url)

    def wait(self) -> None:
        """Block until this caller's slot comes."""
        delay_us = int(self._script(keys=[self._key], args=[self._interval_us, MAX_AHEAD_SECONDS * 1_000_000]))
        if delay_us > 0:
            time.sleep(delay_us / 1_000_000)


class FilePacer:
    """The same schedule in a file under ``folder``, advanced under an exclusive lock (one machine)."""

    def __init__(self, folder: str, key: tuple, requests_per_second: float) -> None:
        os.makedirs(folder, exist_ok=True)
        self._path = os.path.join(folder, f"feishu-pace-{key_digest(key)}")
        self._interval = 1.0 / requests_per_second

    def wait(self) -> None:
        """Block until this caller's slot comes."""
        import fcntl

        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
            now = time.time()  # the wall clock: the same in every process of the machine
            try:
                scheduled = float(text) if text else 0.0
            except ValueError:
                scheduled = 0.0
            if scheduled > now + MAX_AHEAD_SECONDS:
                scheduled = now
            slot = max(now, scheduled)
            os.ftruncate(fd, 0)
            os.pwrite(fd, repr(slot + self._interval).encode("ascii"), 0)
        finally:
            os.close(fd)  # closing releases the lock
        if slot > now:
            time.sleep(slot - now)


class FallbackPacer:
    """A shared pacer that falls back to this process's pacer while its backend cannot be reached.

    The platform's 429 answers are still waited out and retried, so a limiter outage slows a run down
    instead of failing it.
    """

    def __init__(self, shared, local, where: str) -> None:
        self._shared = shared
        self._local = local
        self._where = where
        self._failed_at: float | None = None
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Wait for a slot from the shared schedule, or from this process's when that fails."""
        failed_at = self._failed_at
        if failed_at is not None and time.monotonic() - failed_at < RETRY_BACKEND_AFTER_SECONDS:
            self._local.wait()
            return
        try:
            self._shared.wait()
        except Exception as error:  # any backend failure: pace locally instead
            with self._lock:
                if self._failed_at is None:
                    log.warning(
                        "The shared rate limit at %s failed (%s); pacing this process alone, trying it again "
                        "every %d s",
                        self._where,
                        type(error).__name__,
                        RETRY_BACKEND_AFTER_SECONDS,
                    )
                self._failed_at = time.monotonic()
            self._local.wait()
        else:
            if failed_at is not None:
                self._failed_at = None
                log.info("The shared rate limit at %s works again", self._where)


_clients: dict[str, object] = {}
_clients_lock = threading.Lock()


def _redis_script(url: str):
    with _clients_lock:
        script = _clients.get(url)
        if script is None:
            try:
                import redis
            except ImportError as error:
                raise FeishuConfigError(
                    f"shared rate limit {shown_url(url)!r} needs the redis package: "
                    "pip install 'airflow-provider-feishu-workplace[redis]'"
                ) from error
            client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
            script = _clients[url] = client.register_script(_RESERVE)
        return script


def make_shared_pacer(url: str, key: tuple, requests_per_second: float, local) -> FallbackPacer:
    """The pacer for ``key`` on the backend ``url``, falling back to ``local`` while the backend fails."""
    url = check_url(url)
    if urlsplit(url).scheme.lower() == "file":
        shared = FilePacer(urlsplit(url).path, key, requests_per_second)
    else:
        shared = RedisPacer(url, key, requests_per_second)
    return FallbackPacer(shared, local, shown_url(url))
