"""Publish several staged output files as one change: every target gets its new file, or every target keeps
what it held.

No store offers an atomic change of several files, so :func:`publish_together` builds one from the
single-file steps it has (see ``docs/output-guarantees.md``):

1. every file is staged first (written in full under a temporary name, :meth:`OutputFile.stage`); a
   failure there publishes nothing;
2. a copy of each target's previous file is kept (local: a hard link beside it; object stores: a download
   to a local temporary file), and which targets had none;
3. the files are published one after the other; if one fails, the ones already published are put back
   from the copies (or removed, where there was none) before the error is raised.

A process killed during step 3 cannot put anything back: the targets published so far hold the new
files, the others the previous ones; a rerun writes them all again. Local copies left by a killed process
are named like the writer's temporary files, so a later writer of the same path removes them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from airflow_provider_feishu_workplace.outputs.files import (
    TEMP_SUFFIX,
    _shown,
    _unlink_quietly,
    temp_prefix,
    write_failure,
)

if TYPE_CHECKING:
    from airflow_provider_feishu_workplace.outputs.files import OutputFile


def publish_together(files: Sequence[OutputFile]) -> None:
    """Publish the staged ``files`` so that either all of them replace their targets or none does.

    :param files: staged :class:`~airflow_provider_feishu_workplace.outputs.files.OutputFile` objects, each
        of its own target. They are published (or aborted) on return.
    :raises FeishuOutputError: when a file cannot be published; the targets already replaced were put back
        first. If putting one back failed too, the message names the targets that hold the new files.
    """
    if len(files) == 1:
        files[0].publish()
        return
    kept: list[_Previous] = []
    published: list[OutputFile] = []
    try:
        for file in files:
            kept.append(_Previous.keep(file))
        for file in files:
            file.publish()
            published.append(file)
    except BaseException as error:
        for file in files:
            file.abort()  # the temporary files not published yet
        _put_back(published, kept[: len(published)], error)
        raise
    finally:
        for previous in kept:
            previous.discard()


def _put_back(published: Sequence[OutputFile], kept: Sequence[_Previous], error: BaseException) -> None:
    """Restore each published file's previous content; raise naming the targets that could not be restored."""
    from airflow_provider_feishu_workplace.exceptions import FeishuOutputError

    stuck = []
    for previous in kept:
        try:
            previous.restore()
        except Exception:  # the others are still worth putting back; the error names this one
            stuck.append(_shown(previous.file.target))
    if stuck:
        raise FeishuOutputError(
            f"{error} Putting back the files published before it failed for {', '.join(stuck)}: these hold the "
            f"new pull, every other target ({len(published) - len(stuck)} put back, the rest untouched) the "
            "previous one. A rerun writes every file again."
        ) from error


class _Previous:
    """What a target held before a publish: a copy of its file, or nothing."""

    def __init__(self, file: OutputFile, copy: str | None) -> None:
        self.file = file
        self.copy = copy

    @classmethod
    def keep(cls, file: OutputFile) -> _Previous:
        """Keep a copy of ``file``'s target as it is now."""
        try:
            return cls(file, _keep_local(file) if file.local else _keep_remote(file))
        except Exception as error:
            raise write_failure(error, file.target, "keeping a copy of the previous file") from error

    def restore(self) -> None:
        """Put the copy back in place of the target (remove the target if there was none)."""
        target = self.file.target
        if self.file.local:
            if self.copy is None:
                os.unlink(target.path)
            else:
                os.replace(self.copy, target.path)
                self.copy = None
        elif self.copy is None:
            target.fs.rm_file(target.path)
        else:
            target.fs.put_file(self.copy, target.path)

    def discard(self) -> None:
        """Remove the copy."""
        if self.copy is not None:
            _unlink_quietly(self.copy)
            self.copy = None


def _keep_local(file: OutputFile) -> str | None:
    target = Path(file.target.path)
    if not os.path.lexists(target) or os.path.isdir(target):
        return None  # nothing to keep; a folder in the way makes the publish fail, so nothing is put back
    copy = target.parent / f"{temp_prefix(target.name)}prev{uuid.uuid4().hex}{TEMP_SUFFIX}"
    try:
        os.link(target, copy, follow_symlinks=False)  # the same file under a second name: nothing is copied
    except OSError:  # a file system without hard links
        descriptor, name = tempfile.mkstemp(dir=target.parent, prefix=temp_prefix(target.name), suffix=TEMP_SUFFIX)
        try:
            with os.fdopen(descriptor, "wb") as out, open(target, "rb") as previous:
                shutil.copyfileobj(previous, out)
        except BaseException:
            _unlink_quietly(name)
            raise
        return name
    return str(copy)


def _keep_remote(file: OutputFile) -> str | None:
    target = file.target
    if not target.fs.exists(target.path):
        return None
    descriptor, name = tempfile.mkstemp(prefix="feishu-previous-")
    os.close(descriptor)
    try:
        target.fs.get_file(target.path, name)
    except BaseException:
        _unlink_quietly(name)
        raise
    return name
