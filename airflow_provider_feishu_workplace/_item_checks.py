"""Drop what should not reach the output: repeated items and items for days outside the range."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any


class ItemGate:
    """Pass each item of the requested days once, counting what it drops and which days had items.

    :param first_day: the first requested day.
    :param last_day: the last requested day, included.
    :param id_field: the field that, with ``date``, identifies an item (``None`` when ``date`` alone does).
    """

    def __init__(self, first_day: dt.date, last_day: dt.date, id_field: str | None) -> None:
        self.first = first_day.isoformat()
        self.last = last_day.isoformat()
        self.id_field = id_field
        self.items_per_day: Counter[str] = Counter()
        self.repeated = 0
        self.out_of_range = 0
        # Hashes, not the keys themselves, keep memory flat on long ranges.
        self._seen: set[int] = set()

    def filter(self, items: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Yield the items that belong to the range and were not seen before."""
        for item in items:
            day = item.get("date") if isinstance(item, dict) else None
            if not isinstance(day, str) or not self.first <= day <= self.last:
                self.out_of_range += 1
                continue
            key = hash((day, item.get(self.id_field) if self.id_field else None))
            if key in self._seen:
                self.repeated += 1
                continue
            self._seen.add(key)
            self.items_per_day[day] += 1
            yield item

    def days_without_items(self) -> list[str]:
        """Return the requested days (``YYYY-MM-DD``) that got no item."""
        day = dt.date.fromisoformat(self.first)
        last = dt.date.fromisoformat(self.last)
        missing = []
        while day <= last:
            if not self.items_per_day[day.isoformat()]:
                missing.append(day.isoformat())
            day += dt.timedelta(days=1)
        return missing
