"""Output files that readers, and other writers of the same path, only ever see whole: JSON Lines or Parquet.

``open_output(target, output_format)`` returns an :class:`OutputFile`; the format only decides how items
become bytes, the mechanics of getting the bytes into place are the same for every format::

    with open_output(target, "parquet") as output:
        for item in items:
            output.write(item)
        count = output.commit()

Every writer streams into a temporary file of its own and moves it into place in one step:

- local files: ``tempfile.mkstemp`` in the target's folder (a unique name, created exclusively), then
  ``os.replace``. Concurrent writers of one path each finish with a whole file of their own; the last move
  wins; nobody ever opens, moves or removes another writer's temporary file.
- object stores (S3, GCS, ...): the bytes are spooled to a local temporary file, then uploaded with the
  store's single ``put`` of the whole object, which readers see complete or not at all. No temporary key
  is ever written to the store.

``commit()`` is ``stage()`` (every byte written and on disk, still under the temporary name) then
``publish()`` (the one move or put). Several files that must change together (one per day of a range) are
staged first, all of them, then published by :func:`~airflow_provider_feishu_workplace.outputs.commit.publish_together`.

An exception inside the ``with`` block, leaving it without ``commit()``, or ``abort()`` removes the
writer's own temporary file and leaves the target as it was. A failure to write, stage or publish is a
:class:`~airflow_provider_feishu_workplace.exceptions.FeishuOutputError` that says whether a rerun can help
(:func:`write_failure`).

A run killed with SIGKILL cannot remove its temporary file. Its name carries the writer's host and
process id, so a later writer of the same path removes it once that process is gone (same host), or
once it is older than STALE_AFTER_SECONDS (a temp of another host, whose processes it cannot see).

This module imports nothing heavy; pyarrow is imported only when a Parquet file is opened.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    from airflow_provider_feishu_workplace.endpoints import SearchEndpoint

#: The formats :func:`open_output` writes.
OUTPUT_FORMATS = ("jsonl", "parquet")
# Suffixes that name a format; any other suffix is JSON Lines unless output_format says otherwise.
_SUFFIX_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
LOCAL_PROTOCOLS = ("file", "local", "")
# A temp file of another host is only removed when nobody could still be writing it.
STALE_AFTER_SECONDS = 24 * 3600
TEMP_SUFFIX = ".tmp"


def output_format_for(path: str | ObjectStoragePath, explicit: str | None = None) -> str:
    """Return the format to write ``path`` in: ``explicit`` if given, else ``parquet`` for a ``.parquet`` path.

    :param path: the output path or URI (only its suffix is read).
    :param explicit: ``"jsonl"``, ``"parquet"`` or ``None`` (infer from the suffix; JSON Lines by default).
    :raises FeishuConfigError: for an unknown format, or one the path's suffix contradicts
        (``output_format="jsonl"`` for ``part.parquet``).
    """
    from airflow_provider_feishu_workplace.exceptions import FeishuConfigError

    name = str(path).rstrip("/").rsplit("/", 1)[-1]
    suffix = os.path.splitext(name)[1].lower()
    implied = _SUFFIX_FORMATS.get(suffix)
    if explicit is None:
        return implied or "jsonl"
    if explicit not in OUTPUT_FORMATS:
        raise FeishuConfigError(f"output_format={explicit!r} is unknown: use one of {OUTPUT_FORMATS}, or None.")
    if implied is not None and implied != explicit:
        raise FeishuConfigError(
            f"output_format={explicit!r} contradicts the output path's suffix {suffix!r} ({name}): name the file "
            f"*.{'jsonl' if explicit == 'jsonl' else 'parquet'}, or drop output_format to infer it."
        )
    return explicit


class _Encoder(Protocol):
    """Turns items into a format's bytes on an open binary file."""

    def write(self, item: dict[str, Any]) -> None: ...

    def close(self) -> None:
        """Write whatever is still buffered (and a footer); leave the file itself open."""

    def discard(self) -> None:
        """Drop whatever is buffered and release the encoder; the file is about to be removed."""


class _JsonLinesEncoder:
    """One compact JSON object a line, UTF-8, non-ASCII kept as text."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle

    def write(self, item: dict[str, Any]) -> None:
        self.handle.write(json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n")

    def close(self) -> None:
        pass

    def discard(self) -> None:
        pass


def _encoder(output_format: str, handle: IO[bytes], endpoint: SearchEndpoint | None) -> _Encoder:
    if output_format == "jsonl":
        return _JsonLinesEncoder(handle)
    if output_format == "parquet":
        from airflow_provider_feishu_workplace.outputs.parquet import ParquetEncoder

        assert endpoint is not None  # open_output() requires it for Parquet
        return ParquetEncoder(handle, endpoint)
    raise ValueError(f"output_format={output_format!r} is unknown: use one of {OUTPUT_FORMATS}.")


def open_output(
    target: ObjectStoragePath, output_format: str = "jsonl", *, endpoint: SearchEndpoint | str | None = None
) -> OutputFile:
    """Return an :class:`OutputFile` that writes ``target`` in ``output_format`` once committed.

    :param target: where the file ends up.
    :param output_format: ``"jsonl"`` or ``"parquet"`` (see :func:`output_format_for`).
    :param endpoint: the data set the items belong to (its record or name): Parquet needs it for the
        file's schema; JSON Lines ignores it.
    """
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"output_format={output_format!r} is unknown: use one of {OUTPUT_FORMATS}.")
    if output_format == "parquet":
        from airflow_provider_feishu_workplace.endpoints import get_endpoint

        if endpoint is None:
            raise ValueError("A Parquet output needs endpoint= (the data set), which decides the file's schema.")
        return OutputFile(target, output_format, get_endpoint(endpoint))
    return OutputFile(target, output_format, None)


class OutputFile:
    """One writer's file: items go into a temporary file of its own; ``commit()`` puts it in place atomically.

    Use it as a context manager: leaving the block by an exception, or without ``commit()``, removes the
    temporary file and leaves the target untouched.
    """

    def __init__(self, target: ObjectStoragePath, output_format: str, endpoint: SearchEndpoint | None) -> None:
        self.target = target
        self.output_format = output_format
        self.endpoint = endpoint
        self.count = 0
        #: The file's size in bytes, once committed.
        self.size: int | None = None
        #: Whether the target is a local file (else an object store's).
        self.local = target.protocol in LOCAL_PROTOCOLS
        self._handle: IO[bytes] | None = None
        self._temporary: str | None = None
        self._encoder: _Encoder | None = None
        self._state = "new"  # new -> open -> staged -> committed | aborted

    def __enter__(self) -> OutputFile:
        self._open()
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if self._state != "committed":
            self.abort()

    def write(self, item: dict[str, Any]) -> None:
        """Add one item to the file."""
        if self._state == "new":
            self._open()
        elif self._state != "open":
            raise RuntimeError(f"The output of {_shown(self.target)} is {self._state}: nothing can be written to it.")
        assert self._encoder is not None  # _open() made it
        with self._aborted_on_failure("encoding an item"):
            self._encoder.write(item)
        self.count += 1

    def commit(self) -> int:
        """Finish the file and put it in place of the target in one step; return the number of items written."""
        count = self.stage()
        self.publish()
        return count

    def stage(self) -> int:
        """Finish the file under its temporary name, every byte on disk; return the number of items written.

        Nothing is published: the target keeps what it held until :meth:`publish`.
        """
        if self._state == "new":
            self._open()
        elif self._state != "open":
            raise RuntimeError(f"The output of {_shown(self.target)} is {self._state} already.")
        encoder, handle = self._encoder, self._handle
        assert encoder is not None and handle is not None  # _open() made them
        with self._aborted_on_failure("finishing the file"):
            encoder.close()
            self._encoder = None  # closed: an abort from here on has no buffer to drop
            handle.flush()
            self.size = os.fstat(handle.fileno()).st_size
            if self.local:
                os.fsync(handle.fileno())  # the move must not publish a file whose blocks are not on disk
                # mkstemp makes 0600; give the file the usual mode, on the descriptor: the name may be a link by now
                os.fchmod(handle.fileno(), 0o666 & ~_umask())
                if os.path.isdir(self.target.path):  # found now, not after other files were published
                    raise IsADirectoryError(errno.EISDIR, "a folder is in the way of the file", self.target.path)
            handle.close()
        self._state = "staged"
        return self.count

    def publish(self) -> None:
        """Put the staged file in place of the target in one step (a move, or one put of the whole object)."""
        if self._state != "staged":
            raise RuntimeError(f"The output of {_shown(self.target)} is {self._state}, not staged.")
        temporary = self._temporary
        assert temporary is not None  # _open() made it
        with self._aborted_on_failure("putting the file in place"):
            if self.local:
                os.replace(temporary, self.target.path)
            else:
                # One put of the whole object: S3 and the other stores publish it atomically, whole or not at all.
                self.target.fs.put_file(temporary, self.target.path)
                _unlink_quietly(temporary)
        self._state = "committed"

    @contextmanager
    def _aborted_on_failure(self, doing: str) -> Iterator[None]:
        """Drop the file if the block fails; a failure of ``doing`` is raised as a write failure (see above)."""
        try:
            yield
        except BaseException as error:
            self.abort()
            if isinstance(error, Exception):
                raise write_failure(error, self.target, doing) from error
            raise

    def abort(self) -> None:
        """Drop the file: remove this writer's temporary file; the target keeps what it held."""
        if self._state in ("committed", "aborted"):
            return
        self._state = "aborted"
        if self._encoder is not None:
            try:
                self._encoder.discard()
            except Exception:  # the temporary file goes anyway; the original error matters more
                pass
        if self._handle is not None:
            try:
                self._handle.close()
            except Exception:  # the temporary file goes anyway; the original error matters more
                pass
        if self._temporary is not None:
            _unlink_quietly(self._temporary)

    def _open(self) -> None:
        try:
            self._open_temporary()
        except Exception as error:
            raise write_failure(error, self.target, "creating its temporary file") from error

    def _open_temporary(self) -> None:
        if self.local:
            target = Path(self.target.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            _check_folder(target.parent)  # a folder others could swap our temp file in is refused
            remove_stale_temps(target)
            descriptor, self._temporary = tempfile.mkstemp(
                dir=target.parent, prefix=temp_prefix(target.name), suffix=TEMP_SUFFIX
            )
        else:
            descriptor, self._temporary = tempfile.mkstemp(prefix="feishu-", suffix=f".{self.output_format}")
        self._state = "open"
        try:
            self._handle = os.fdopen(descriptor, "wb")
            self._encoder = _encoder(self.output_format, self._handle, self.endpoint)
        except BaseException:
            if self._handle is None:
                os.close(descriptor)
            self.abort()
            raise


def check_writable(target: ObjectStoragePath) -> None:
    """Raise a FeishuOutputError (see :func:`write_failure`) unless a file can be written beside ``target``.

    Run before the pull, so that a store that is unreachable, a bucket that is missing or a folder without
    permission fails the task before any request to Feishu, not after the whole pull. A probe with a
    unique name is written and removed; ``target`` itself is not touched.
    """
    if target.protocol in LOCAL_PROTOCOLS and Path(target.path).parent.is_dir():
        _check_folder(Path(target.path).parent)
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
        raise write_failure(error, target, "checking it before the pull", "Nothing was asked of Feishu yet.") from error


def write_failure(error: Exception, target: ObjectStoragePath, doing: str, note: str = "") -> Exception:
    """Return the FeishuOutputError for ``error``, raised while ``doing`` for ``target``: the one place that
    decides whether a rerun can help a failed write.

    A rerun cannot help (:class:`FeishuOutputBlockedError`) when something is in the way of the path (a file
    where a folder must be, a folder where the file must be), a folder or bucket is missing, permission is
    denied, the name is too long, the store is read-only, or the items cannot be encoded (a rerun gets the
    same items). Any other failure (the store unreachable or timing out, a full disk) may pass: a
    :class:`FeishuOutputError`. An error of this provider is returned as it is.

    :param note: a sentence appended to the message (what was, or was not, done).
    """
    from airflow_provider_feishu_workplace.exceptions import (
        FeishuError,
        FeishuOutputBlockedError,
        FeishuOutputError,
    )

    if isinstance(error, FeishuError):
        return error
    blocked_errnos = (errno.ENAMETOOLONG, errno.EROFS, errno.ELOOP)
    if isinstance(error, (FileExistsError, IsADirectoryError, NotADirectoryError)):
        advice = "a file or folder is in the way of the path: move it away, or choose another output_path."
    elif isinstance(error, (FileNotFoundError, PermissionError)) or (
        isinstance(error, OSError) and error.errno in blocked_errnos
    ):
        advice = "create the folder or bucket, or give the worker (or output_conn_id) permission to write there."
    elif isinstance(error, (OverflowError, ValueError, TypeError, LookupError)):
        advice = "the items cannot be written in this format: write JSON Lines, or report it."
    else:
        advice = None
    cause = f"The output path {_shown(target)} cannot be written ({type(error).__name__}: {error}; while {doing})"
    if advice is None:
        return FeishuOutputError(
            f"{cause}: the store may be unreachable, slow or full. A rerun can help. {note}".rstrip()
        )
    return FeishuOutputBlockedError(f"{cause}: {advice} A rerun cannot help until then. {note}".rstrip())


def _shown(target: ObjectStoragePath) -> str:
    """The target as a URI without any credentials."""
    return f"{target.protocol or 'file'}://{target.path}"


def temp_prefix(name: str) -> str:
    """The start of every temporary file name of ``name`` written by this process: ``.<name>.<host>.<pid>.``."""
    return f".{name}.{_host_tag()}.{os.getpid()}."


def remove_stale_temps(target: Path, *, now: float | None = None) -> list[str]:
    """Remove the temporary files of ``target`` left by writers that are gone; return their names.

    Only files named like this module's temps of ``target`` are considered. One of this host is removed
    when the process that made it no longer exists; any is removed when untouched for STALE_AFTER_SECONDS.
    """
    pattern = re.compile(
        rf"\.{re.escape(target.name)}\.(?P<host>[0-9a-f]{{8}})\.(?P<pid>\d+)\.[A-Za-z0-9_]+{re.escape(TEMP_SUFFIX)}"
    )
    now = time.time() if now is None else now
    removed: list[str] = []
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


def _check_folder(folder: Path) -> None:
    """Raise FeishuConfigError if other users may write to ``folder`` and it is not sticky (see ``_safe_files``)."""
    from airflow_provider_feishu_workplace._safe_files import check_folder

    check_folder(str(folder))
