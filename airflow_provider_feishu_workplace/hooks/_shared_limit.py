"""Pacing shared by every process of one app: the platform's limit is per app, not per worker.

A shared pacer hands out request slots ``1 / rate`` seconds apart from one schedule kept outside the
process, so the sum over every task process of the app stays under the rate:

- ``redis://[user@]host:port/db``, ``rediss://...`` or ``unix:///path/redis.sock?db=0``: the schedule is one
  Redis key per app and rate-limit group, advanced atomically by a Lua script on Redis's own clock. For
  workers on several machines. Redis's password is never part of the URL (the URL sits in a connection extra
  Airflow shows in clear, or in a hook argument DAG code and trigger kwargs show): it comes from the
  connection's extra ``shared_rate_limit_password``, which Airflow hides like the connection's password.
- ``file:///some/folder``: one small file per app and rate-limit group under that folder, advanced under an
  exclusive ``flock``. For workers on one machine (or a shared POSIX file system with working locks).
  The files are opened without following links, owner-only (see :mod:`.._safe_files`).

Nothing secret goes into keys or file names (they hold a digest of the origin, app id and group), and no
message holds a password: URLs that carry one are refused, and shown without it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from urllib.parse import parse_qsl, urlsplit

from airflow_provider_feishu_workplace.exceptions import FeishuConfigError

log = logging.getLogger(__name__)

SCHEMES = ("redis", "rediss", "unix", "file")
#: The connection extra that holds the Redis password (Airflow hides extras whose key holds "password").
PASSWORD_EXTRA = "shared_rate_limit_password"
# Query arguments redis-py would read a secret from (password=, ssl_password=, ...).
_SECRET_WORDS = ("password", "passwd", "secret", "token")
_USAGE = (
    "give 'redis://host:6379/0' (or rediss://, or unix:///path/redis.sock; workers on several machines) or "
    "'file:///an/absolute/folder' (one machine)"
)
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


def _is_secret_name(name: str) -> bool:
    return any(word in name.lower() for word in _SECRET_WORDS)


def shown_url(url: object) -> str:
    """``url`` without any password (``user:pw@`` or a ``password=`` query argument), for messages."""
    if not isinstance(url, str):
        return repr(type(url).__name__)
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "***" if ":" in url or "@" in url else url  # not a URL: it may be a password pasted alone
    rest, hash_, fragment = rest.partition("#")
    location, question, query = rest.partition("?")
    # Up to the last '@': a password whose '@', '/' or ':' was not percent-encoded stays inside.
    userinfo, at, place = location.rpartition("@")
    if at and ":" in userinfo:
        location = f"{userinfo.partition(':')[0]}:***@{place}"
    if query:
        pairs = query.split("&")
        query = "&".join(f"{p.partition('=')[0]}=***" if _is_secret_name(p.partition("=")[0]) else p for p in pairs)
    return f"{scheme}{sep}{location}{question}{query}{hash_}{'***' if fragment else ''}"


def check_url(url: object, *, where: str = "hook argument shared_rate_limit") -> str:
    """Return ``url`` if it names a usable shared pacing backend without a password, else raise naming the fix.

    :param where: where the URL was given, for the message (a hook argument, a connection's extra).
    """
    if not isinstance(url, str) or not url.strip():
        raise FeishuConfigError(f"The {where} is not a URL ({shown_url(url)!r}): {_USAGE}.")
    url = url.strip()
    shown = shown_url(url)
    problem = _url_problem(url)
    secret = has_password(url)
    move = f"put the password in the connection's extra {PASSWORD_EXTRA!r}, which Airflow hides"
    if problem:
        also = f" It also holds a password: {move}, never in the URL." if secret else ""
        raise FeishuConfigError(f"The {where} {shown!r} is not usable: {problem}; {_USAGE}.{also}")
    if secret:
        raise FeishuConfigError(
            f"The {where} {shown!r} holds a password, which would be shown in clear (DAG code, the connection's "
            f"extras in the UI and the REST API, trigger kwargs): remove it from the URL and {move} like the "
            "connection's password."
        )
    return url


def has_password(url: str) -> bool:
    """Whether ``url`` carries a secret: ``user:pw@``, or a query argument such as ``password=``."""
    parts = urlsplit(url)
    if ":" in url.partition("://")[2].partition("?")[0].partition("#")[0].rpartition("@")[0]:
        return True
    return any(_is_secret_name(name) for name, _ in parse_qsl(parts.query, keep_blank_values=True))


def _url_problem(url: str) -> str | None:
    """What is wrong with ``url`` as a backend (as redis-py or the file pacer would read it), or ``None``."""
    scheme, sep, _ = url.partition("://")
    if not sep or scheme not in SCHEMES:
        return f"the scheme {scheme if sep else url[:0]!r} is not one of {list(SCHEMES)} (lower case)"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "its port is not a number from 1 to 65535"
    if parts.fragment:
        return "it has a #fragment"
    if scheme == "file":
        if parts.netloc:
            return (
                "a file URL names a folder on this machine, with three slashes: file:///folder "
                f"(file://{parts.hostname or ''}/... would ignore the host and use a folder at the root)"
            )
        if not parts.path.startswith("/") or parts.query:
            return "a file URL takes an absolute folder and no query"
        return None
    if scheme == "unix":
        if parts.netloc.rpartition("@")[2] or not parts.path.startswith("/"):
            return "a unix URL takes the socket's absolute path after three slashes: unix:///path/redis.sock"
    else:
        if not parts.hostname:
            return "it names no host"
        if port == 0:
            return "its port is not a number from 1 to 65535"
        if parts.path.strip("/") and not parts.path.strip("/").isdigit():
            return "the database (the path after the host) is not a number (redis://host:6379/0)"
    return _query_problem(parts.query)


def _query_problem(query: str) -> str | None:
    try:
        from redis.connection import URL_QUERY_ARGUMENT_PARSERS, parse_url
    except ImportError:
        return "it needs the redis package: pip install 'airflow-provider-feishu-workplace[redis]'"
    import inspect

    from redis.connection import SSLConnection, UnixDomainSocketConnection

    known = set(URL_QUERY_ARGUMENT_PARSERS)
    for connection_class in (SSLConnection, UnixDomainSocketConnection):
        for klass in connection_class.__mro__:
            if "__init__" in vars(klass):
                known.update(inspect.signature(vars(klass)["__init__"]).parameters)
    for name, _ in parse_qsl(query, keep_blank_values=True):
        if name not in known or name in ("self", "args", "kwargs"):
            return f"redis-py takes no URL argument {name!r}"
    try:
        parse_url(f"redis://localhost/?{query}")
    except ValueError as error:
        return str(error).rstrip(".")
    return None


def key_digest(key: tuple) -> str:
    """A short, stable digest of the pacing key (origin, app id, path, rate)."""
    return hashlib.sha256(repr(key).encode()).hexdigest()[:32]


class RedisPacer:
    """Spaces calls to ``wait()`` of every process sharing ``url`` and ``key`` ``1 / rate`` seconds apart."""

    def __init__(self, url: str, key: tuple, requests_per_second: float, password: str | None = None) -> None:
        self._key = f"feishu:pace:{key_digest(key)}"
        self._interval_us = max(1, round(1_000_000 / requests_per_second))
        self._script = _redis_script(url, password)

    def wait(self) -> None:
        """Block until this caller's slot comes."""
        delay_us = int(self._script(keys=[self._key], args=[self._interval_us, MAX_AHEAD_SECONDS * 1_000_000]))
        if delay_us > 0:
            time.sleep(delay_us / 1_000_000)


class FilePacer:
    """The same schedule in a file under ``folder``, advanced under an exclusive lock (one machine).

    The folder may be shared with other users: the file is opened without following links, created
    owner-only, and refused unless it is this user's own regular file (:func:`.._safe_files.open_shared_file`).
    """

    def __init__(self, folder: str, key: tuple, requests_per_second: float) -> None:
        from airflow_provider_feishu_workplace._safe_files import open_shared_file, private_folder

        self._folder = folder
        self._name = f"feishu-pace-{key_digest(key)}"
        self._interval = 1.0 / requests_per_second
        private_folder(folder)
        os.close(open_shared_file(folder, self._name))  # a planted link or a foreign file fails the hook now

    def wait(self) -> None:
        """Block until this caller's slot comes."""
        import fcntl

        from airflow_provider_feishu_workplace._safe_files import open_shared_file

        fd = open_shared_file(self._folder, self._name)
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
        except FeishuConfigError:  # an unsafe file, a refused setting: not an outage to ride out
            raise
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


_clients: dict[tuple[str, str | None], object] = {}
_clients_lock = threading.Lock()


def _redis_script(url: str, password: str | None):
    with _clients_lock:
        script = _clients.get((url, password))
        if script is None:
            try:
                import redis
            except ImportError as error:
                raise FeishuConfigError(
                    f"shared rate limit {shown_url(url)!r} needs the redis package: "
                    "pip install 'airflow-provider-feishu-workplace[redis]'"
                ) from error
            client = redis.Redis.from_url(url, password=password, socket_timeout=5, socket_connect_timeout=5)
            script = _clients[(url, password)] = client.register_script(_RESERVE)
        return script


def make_shared_pacer(
    url: str, key: tuple, requests_per_second: float, local, password: str | None = None
) -> FallbackPacer:
    """The pacer for ``key`` on the backend ``url``, falling back to ``local`` while the backend fails.

    :param password: Redis's password (the connection's extra ``shared_rate_limit_password``).
    """
    url = check_url(url)
    shared: FilePacer | RedisPacer
    if urlsplit(url).scheme == "file":
        if password:
            raise FeishuConfigError(
                f"The connection's extra {PASSWORD_EXTRA!r} is set, but the shared rate limit {url!r} is a folder, "
                "which takes no password: remove the extra, or give a redis:// URL."
            )
        shared = FilePacer(urlsplit(url).path, key, requests_per_second)
    else:
        shared = RedisPacer(url, key, requests_per_second, password)
    return FallbackPacer(shared, local, shown_url(url))
