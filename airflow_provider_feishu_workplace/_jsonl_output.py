"""Write items as JSON Lines so that readers, and other writers of the same path, see one whole file.

Every writer streams into a temporary file of its own and moves it into place in one step:

- local files: ``tempfile.mkstemp`` in the target's folder (a unique name, created exclusively), then
  ``os.replace``. Concurrent writers of one path each finish with a whole file of their own; the last move
  wins; nobody ever opens, moves or removes another writer's temporary file.
- object stores (S3, GCS, ...): the lines are spooled to a local temporary file, then uploaded with the
  store's single ``put`` of the whole object, which readers see complete or not at all. No temporary key
  is ever written to the store.

A run killed with SIGKILL cannot remove its temporary file. Its name carries the writer's host and
process id, so a later writer of the same path removes it once that process is gone (same host), or
once it is older than STALE_AFTER_SECONDS (a temp of another host, whose processes it cannot see).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import tempfile
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

LOCAL_PROTOCOLS = ("file", "local", "")
# A temp file of another host is only removed when nobody could still be writing it.
STALE_AFTER_SECONDS = 24 * 3600
TEMP_SUFFIX = ".tmp"


def write_jsonl_atomically(target: ObjectStoragePath, items: Iterable[dict[str, Any]]) -> int:
    """Stream ``items`` into a temporary file of this writer, then put it in place of ``target`` in one step.

    If reading ``items`` fails, the temporary file is removed and ``target`` keeps its old content.

    :param target: where the file ends up.
    :param items: JSON-serialisable dicts, written one a line, UTF-8, non-ASCII kept as text.
    :return: the number of lines written.
    """
    if target.protocol in LOCAL_PROTOCOLS:
        return _write_local(Path(target.path), items)
    return _write_remote(target, items)


def check_writable(target: ObjectStoragePath) -> None:
    """Raise FeishuOutputError unless a file can be written beside ``target`` (and removed again).

    Run before the pull, so that a store that is unreachable, a bucket that is missing or a folder without
    permission fails the task before any request to Feishu, not after the whole pull. A probe with a
    unique name is written and removed; ``target`` itself is not touched.
    """
    from airflow_provider_feishu_workplace.exceptions import FeishuOutputError

    try:
        if target.protocol in LOCAL_PROTOCOLS:
            folder = Path(target.path).parent
            folder.mkdir(parents=True, exist_ok=True)
            descriptor, probe = tempfile.mkstemp(dir=folder, prefix=temp_prefix(target.name), suffix=TEMP_SUFFIX)
            os.close(descriptor)
            os.unlink(probe)
        else:
            probe = f"{target.parent.path}/.{target.name}.probe-{uuid.uuid4().hex}"
            target.fs.pipe_file(probe, b"")
            target.fs.rm_file(probe)
    except Exception as error:
        raise FeishuOutputError(
            f"The output path {_shown(target)} cannot be written ({type(error).__name__}: {error}): check that "
            "its store is reachable, the bucket or folder exists and the connection may write there. Nothing "
            "was asked of Feishu yet."
        ) from error


def _shown(target: ObjectStoragePath) -> str:
    """The target as a URI without any credentials."""
    return f"{target.protocol or 'file'}://{target.path}"


def temp_prefix(name: str) -> str:
    """The start of every temporary file name of ``name`` written by this process: ``.<name>.<host>.<pid>.``."""
    return f".{name}.{_host_tag()}.{os.getpid()}."


def _write_local(target: Path, items: Iterable[dict[str, Any]]) -> int:
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target)
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=temp_prefix(target.name), suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="\n") as handle:
            count = _write_lines(handle, items)
            handle.flush()
            os.fsync(handle.fileno())  # the move must not publish a file whose blocks are not on disk yet
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
        os.replace(temporary, target)
    except BaseException:
        _unlink_quietly(temporary)
        raise
    return count


def _write_remote(target: ObjectStoragePath, items: Iterable[dict[str, Any]]) -> int:
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", newline="\n", prefix="feishu-", suffix=".jsonl") as spool:
        count = _write_lines(spool, items)
        spool.flush()
        # One put of the whole object: S3 and the other stores publish it atomically, whole or not at all.
        target.fs.put_file(spool.name, target.path)
    return count


def _write_lines(handle, items: Iterable[dict[str, Any]]) -> int:
    count = 0
    for item in items:
        handle.write(json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n")
        count += 1
    return count


def remove_stale_temps(target: Path, *, now: float | None = None) -> list[str]:
    """Remove the temporary files of ``target`` left by writers that are gone; return their names.

    Only files named like this module's temps of ``target`` are considered. One of this host is removed
    when the process that made it no longer exists; any is removed when untouched for STALE_AFTER_SECONDS.
    """
    pattern = re.compile(
        rf"\.{re.escape(target.name)}\.(?P<host>[0-9a-f]{{8}})\.(?P<pid>\d+)\.[A-Za-z0-9_]+{re.escape(TEMP_SUFFIX)}"
    )
    now = time.time() if now is None else now
    removed = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None:
            continue
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue  # gone already: its writer moved or removed it
        mine = match["host"] == _host_tag()
        dead = (mine and not _process_exists(int(match["pid"]))) or age > STALE_AFTER_SECONDS
        if dead and _unlink_quietly(entry.path):
            removed.append(entry.name)
    return removed


def _process_exists(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def _host_tag() -> str:
    return hashlib.blake2b(socket.gethostname().encode(), digest_size=4).hexdigest()


def _umask() -> int:
    # os.umask() can only be read by setting it, which races with other threads creating files: read
    # /proc where there is one.
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _unlink_quietly(path: str | os.PathLike) -> bool:
    try:
        os.unlink(path)
    except OSError:  # the original error matters more than a failed clean-up
        return False
    return True
