"""Write items as JSON Lines to object storage so that readers see the old file or the whole new one."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

LOCAL_PROTOCOLS = ("file", "local", "")


def write_jsonl_atomically(target: ObjectStoragePath, items: Iterable[dict[str, Any]]) -> int:
    """Stream ``items`` into a temporary sibling of ``target``, then move it over ``target``.

    If reading ``items`` fails, the temporary file is removed and ``target`` keeps its old content.
    The temporary name is fixed (``.<name>.tmp``), so a run killed half-way leaves at most one
    leftover, which the next run of the same path overwrites.

    :param target: where the file ends up.
    :param items: JSON-serialisable dicts, written one a line, UTF-8, non-ASCII kept as text.
    :return: the number of lines written.
    """
    temporary = target.parent / f".{target.name}.tmp"
    if target.protocol in LOCAL_PROTOCOLS:
        target.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    try:
        with temporary.open("w", encoding="utf-8", newline="\n") as handle:
            for item in items:
                handle.write(json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n")
                count += 1
        temporary.move(target)
    except BaseException:
        _remove_quietly(temporary)
        raise
    return count


def _remove_quietly(path: ObjectStoragePath) -> None:
    try:
        if path.exists():
            path.unlink()
    except Exception:  # the original error matters more than a failed clean-up
        pass
