"""Deterministic, plausible access data for any date range, generated one page at a time.

Nothing is stored: item ``n`` of a query is computed from its date and id, so a page of a
ten-year range costs the same as a page of one day, and the same query always gives the same
items. Items are ordered by date, then id. Days given exact items (:meth:`Dataset.set_items`) and
days without data are the only ones looked at one by one. Like the platform, a day that has not ended yet
(in the data set's time zone) has no data, exact items included.
"""

from __future__ import annotations

import copy
import datetime
import json
import time
import zoneinfo
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from airflow_provider_feishu_workplace.testing._search import SPECS

#: Ids each day has in a data set that :data:`SPECS` describes but that has no builder of its own here.
GENERATED_IDS_PER_DAY = 3

#: Names given to the custom workplaces, in creation order (cycled with a number past the end).
WORKPLACE_NAMES = (
    ("销售工作台", "Sales Workplace"),
    ("研发工作台", "R&D Workplace"),
    ("人事工作台", "HR Workplace"),
    ("财务工作台", "Finance Workplace"),
    ("客服工作台", "Customer Service Workplace"),
    ("市场工作台", "Marketing Workplace"),
    ("运营工作台", "Operations Workplace"),
    ("行政工作台", "Administration Workplace"),
)

#: The calendar the double counts days in: Feishu tenants mostly live in UTC+8.
DEFAULT_TIMEZONE = "Asia/Shanghai"

_MASK = (1 << 64) - 1
_ONE_DAY = datetime.timedelta(days=1)


def _mix(*parts: int) -> int:
    """A cheap 64-bit hash of some integers: the source of every 'random' number here."""
    h = 0x9E3779B97F4A7C15
    for part in parts:
        h = ((h ^ part) * 0xBF58476D1CE4E5B9) & _MASK
        h ^= h >> 29
    return h


def _visits(h: int, base: int, spread: int, weekend: bool) -> dict[str, int]:
    """Page views and unique visitors for one day, with ``uv <= pv`` and quiet weekends."""
    uv = (base + h % spread) // (4 if weekend else 1) + 1
    pv = uv * (2 + (h >> 16) % 4) + (h >> 24) % uv
    return {"pv": pv, "uv": uv}


def _workplace_name(index: int) -> tuple[str, str]:
    """Chinese and English names of the ``index``-th custom workplace."""
    zh, en = WORKPLACE_NAMES[index % len(WORKPLACE_NAMES)]
    cycle = index // len(WORKPLACE_NAMES)
    return (f"{zh}{cycle + 1}", f"{en} {cycle + 1}") if cycle else (zh, en)


class Dataset:
    """The access data a tenant has: which custom workplaces and blocks exist, which days have data.

    :param custom_workplaces: number of custom workplaces with data each day.
    :param blocks_per_day: number of blocks with data each day.
    :param available_until: last date with data; later dates have none. ``None``: no limit.
    :param unavailable_dates: dates without data.
    :param timezone: the IANA time zone whose calendar days the data counts: a day that has not ended
        there yet has no data.
    """

    def __init__(
        self,
        *,
        custom_workplaces: int,
        blocks_per_day: int,
        available_until: datetime.date | None = None,
        unavailable_dates: Iterable[datetime.date] = (),
        timezone: str = DEFAULT_TIMEZONE,
    ) -> None:
        self.timezone = zoneinfo.ZoneInfo(timezone)
        self._initial = (available_until, frozenset(unavailable_dates))
        self.available_until = available_until
        self.unavailable_dates: set[datetime.date] = set(unavailable_dates)
        # (data set, day) -> the exact items served for it, in order, whatever the rules above say.
        self._exact: dict[tuple[str, datetime.date], list[dict[str, Any]]] = {}
        # day -> time.monotonic() from which it is published (inf: held until told); before it, no data set
        # has items that day, whatever the rules above say.
        self._publish_at: dict[datetime.date, float] = {}
        custom_ids = [f"tpl_{_mix(2, index):016x}" for index in range(custom_workplaces)]
        block_ids = [f"blk_{_mix(3, index):016x}" for index in range(blocks_per_day)]
        # An id's creation index seeds its numbers and picks its name.
        self._seeds = {key: index for ids in (custom_ids, block_ids) for index, key in enumerate(ids)}
        self._names = {key: _workplace_name(index) for index, key in enumerate(custom_ids)}
        self._keys = {"workplace": [""], "custom_workplace": sorted(custom_ids), "block": sorted(block_ids)}
        self._builders = {
            "workplace": self._workplace_item,
            "custom_workplace": self._custom_workplace_item,
            "block": self._block_item,
        }
        self._id_fields = {name: spec.filter_param for name, spec in SPECS.items()}
        for name, spec in SPECS.items():  # an endpoint described in SPECS alone: date, id and counts
            if name not in self._builders:
                ids = [f"{name}_{_mix(*name.encode(), index):016x}" for index in range(GENERATED_IDS_PER_DAY)]
                self.add_kind(name, spec.filter_param, ids, spec.counts_fields)

    def add_kind(self, kind: str, id_field: str | None, ids: Iterable[str], counts_fields: tuple[str, ...]) -> None:
        """Generate items for one more data set: per day one item per id (one item without an id field),
        each ``{"date", id_field: id, counts_field: {"pv", "uv"}, ...}``.
        """
        if kind in self._builders:
            raise ValueError(f"the data set {kind!r} exists already")
        keys = sorted(ids) if id_field else [""]
        if id_field and (not keys or not all(isinstance(key, str) and key for key in keys)):
            raise ValueError(f"{kind!r} filters on {id_field!r}: give its ids, a list of non-empty strings")
        seed = _mix(*kind.encode())

        def build(day: datetime.date, date: str, key: str) -> dict[str, Any]:
            item: dict[str, Any] = {"date": date}
            if id_field:
                item[id_field] = key
            for index, field in enumerate(counts_fields):
                h = _mix(seed, index, day.toordinal(), *key.encode())
                item[field] = _visits(h, 20, 120, day.weekday() >= 5)
            return item

        self._keys[kind] = keys
        self._builders[kind] = build
        self._id_fields[kind] = id_field

    @property
    def custom_workplace_ids(self) -> list[str]:
        """Ids of the custom workplaces, sorted."""
        return list(self._keys["custom_workplace"])

    @property
    def block_ids(self) -> list[str]:
        """Ids of the blocks, sorted."""
        return list(self._keys["block"])

    def set_items(self, kind: str, day: datetime.date, items: Iterable[Mapping[str, Any]]) -> None:
        """Serve exactly ``items`` (copies, in this order) for ``kind`` on ``day``; ``[]``: none that day."""
        if kind not in self._keys:
            raise ValueError(f"unknown data set {kind!r}; choose one of {list(self._keys)}")
        if isinstance(items, (str, bytes, Mapping)):
            raise TypeError(f"items must be a list of item objects (dicts), not a {type(items).__name__}")
        exact = []
        for index, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise TypeError(f"item {index} of {kind} on {day} is a {type(item).__name__}, not a dict")
            try:
                exact.append(json.loads(json.dumps(item)))  # a deep copy that proves it is JSON
            except (TypeError, ValueError) as error:
                raise TypeError(f"item {index} of {kind} on {day} cannot be sent as JSON: {error}") from None
        self._exact[(kind, day)] = exact

    def publish_at(self, day: datetime.date, seconds_from_now: float | None) -> None:
        """Hold ``day`` back until ``seconds_from_now`` seconds from now (``None``: until told again)."""
        if seconds_from_now is None:
            self._publish_at[day] = float("inf")
            return
        if isinstance(seconds_from_now, bool) or not isinstance(seconds_from_now, (int, float)) or seconds_from_now < 0:
            raise ValueError(f"seconds_from_now={seconds_from_now!r} must be a number of seconds >= 0, or None")
        self._publish_at[day] = time.monotonic() + seconds_from_now

    def last_ended_day(self) -> datetime.date:
        """The latest day that has ended in the data set's time zone (yesterday there): later days have no data."""
        return datetime.datetime.now(self.timezone).date() - _ONE_DAY

    def held_days(self) -> set[datetime.date]:
        """The days held back right now (their publication time has not come)."""
        now = time.monotonic()
        return {day for day, moment in list(self._publish_at.items()) if now < moment}

    def reset(self) -> None:
        """Forget exact items and publication times; go back to the availability given when the data set was made."""
        self.available_until, unavailable = self._initial
        self.unavailable_dates = set(unavailable)
        self._exact.clear()
        self._publish_at.clear()

    def count(self, kind: str, from_date: datetime.date, to_date: datetime.date, filter_id: str | None = None) -> int:
        """Number of items a query pages through."""
        return sum(size for _, size, _ in self._runs(kind, from_date, to_date, filter_id))

    def page(
        self,
        kind: str,
        from_date: datetime.date,
        to_date: datetime.date,
        offset: int,
        limit: int,
        filter_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Items ``offset`` to ``offset + limit`` of a query (fewer at the end)."""
        keys = self._keys_for(kind, filter_id)
        build = self._builders[kind]
        items: list[dict[str, Any]] = []
        for first_day, size, exact in self._runs(kind, from_date, to_date, filter_id):
            if len(items) >= limit:
                break
            if offset >= size:
                offset -= size
                continue
            if exact is not None:
                items.extend(copy.deepcopy(exact[offset : offset + limit - len(items)]))
                offset = 0
                continue
            day_index, first = divmod(offset, len(keys))
            day = first_day + datetime.timedelta(days=day_index)
            end = first_day + datetime.timedelta(days=size // len(keys))
            while len(items) < limit and day < end:
                take = min(len(keys) - first, limit - len(items))
                date = day.isoformat()
                items.extend(build(day, date, key) for key in keys[first : first + take])
                first = 0
                day += _ONE_DAY
            offset = 0
        return items

    def _keys_for(self, kind: str, filter_id: str | None) -> list[str]:
        keys = self._keys[kind]
        if filter_id is None:
            return keys
        return [filter_id] if filter_id in keys else []

    def _runs(
        self, kind: str, from_date: datetime.date, to_date: datetime.date, filter_id: str | None
    ) -> Iterator[tuple[datetime.date, int, list[dict[str, Any]] | None]]:
        """The query's items as runs in date order: ``(first day, item count, exact items or None)``.

        A run of generated days has the same number of items each day; a day with exact items, or
        without data, is a run of its own.
        """
        per_day = len(self._keys_for(kind, filter_id))
        last_ended = self.last_ended_day()
        end = min(to_date, last_ended)
        end = end if self.available_until is None else min(end, self.available_until)
        special: dict[datetime.date, list[dict[str, Any]]] = {
            day: [] for day in list(self.unavailable_dates) if from_date <= day <= end
        }
        id_field = self._id_fields[kind]
        for (exact_kind, day), items in list(self._exact.items()):
            if exact_kind == kind and from_date <= day <= min(to_date, last_ended):
                if filter_id is not None and id_field is not None:
                    items = [item for item in items if item.get(id_field) == filter_id]
                special[day] = items
        for day in self.held_days():  # not published yet: no items, exact ones included
            if from_date <= day <= to_date:
                special[day] = []
        cursor = from_date
        for day, items in sorted(special.items()):
            last = min(day - _ONE_DAY, end)
            if cursor <= last and per_day:
                yield cursor, ((last - cursor).days + 1) * per_day, None
            if items:
                yield day, len(items), items
            cursor = day + _ONE_DAY
        if cursor <= end and per_day:
            yield cursor, ((end - cursor).days + 1) * per_day, None

    @staticmethod
    def _workplace_item(day: datetime.date, date: str, _key: str) -> dict[str, Any]:
        h = _mix(1, day.toordinal())
        weekend = day.weekday() >= 5
        total = _visits(h, 800, 400, weekend)
        share = 45 + (h >> 40) % 40  # percent of visits that land on the default workplace
        default = {"pv": total["pv"] * share // 100, "uv": total["uv"] * share // 100}
        return {"date": date, "all_workplace": total, "default_workplace": default}

    def _custom_workplace_item(self, day: datetime.date, date: str, key: str) -> dict[str, Any]:
        h = _mix(2, day.toordinal(), self._seeds[key])
        zh, en = self._names[key]
        return {
            "custom_workplace_id": key,
            "date": date,
            "access_data": _visits(h, 60, 240, day.weekday() >= 5),
            "custom_workplace_name": [
                {"language": "zh_cn", "name": zh},
                {"language": "en_us", "name": en},
            ],
        }

    def _block_item(self, day: datetime.date, date: str, key: str) -> dict[str, Any]:
        h = _mix(3, day.toordinal(), self._seeds[key])
        return {"date": date, "block_id": key, "access_data": _visits(h, 30, 170, day.weekday() >= 5)}
