"""Hold a range's items on local disk, grouped by day, until the whole pull has succeeded.

A range written as one file per day must not replace any day's file before the last page has arrived: a
failure mid-range would leave some days new and some old. The items are spooled to one local temporary
file (memory stays flat however long the range), each day's byte segments noted; only after the pull are
they read back one day at a time, each day into its own atomically written file.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any


class DaySpool:
    """Items by their ``date``, spooled to a temporary file; a context manager that removes it on exit."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="feishu-days-")  # noqa: SIM115 - closed in close()
        # day -> [start, end) byte segments, in arrival order; consecutive items of one day share a segment.
        self._segments: dict[str, list[list[int]]] = {}
        self._counts: dict[str, int] = {}
        self._end = 0

    def add_all(self, items: Iterable[dict[str, Any]]) -> int:
        """Spool every item of ``items``; return how many there were."""
        added = 0
        last_day = None
        for item in items:
            line = json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
            self._file.write(line)
            day = item["date"]
            start, self._end = self._end, self._end + len(line)
            segments = self._segments.setdefault(day, [])
            if day == last_day and segments and segments[-1][1] == start:
                segments[-1][1] = self._end
            else:
                segments.append([start, self._end])
            self._counts[day] = self._counts.get(day, 0) + 1
            last_day = day
            added += 1
        self._file.flush()
        return added

    def count(self, day: str) -> int:
        """The number of items spooled for ``day`` (``YYYY-MM-DD``)."""
        return self._counts.get(day, 0)

    def items(self, day: str) -> Iterator[dict[str, Any]]:
        """Yield the items of ``day`` in the order they arrived."""
        for start, end in self._segments.get(day, []):
            self._file.seek(start)
            for line in self._file.read(end - start).splitlines():
                yield json.loads(line)

    def close(self) -> None:
        """Remove the temporary file."""
        self._file.close()

    def __enter__(self) -> DaySpool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
