"""Check the items before they reach the output: malformed ones stop the pull, repeats and strays are dropped."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from airflow_provider_feishu_workplace._compat import task_logger
from airflow_provider_feishu_workplace.endpoints import SearchEndpoint, get_endpoint
from airflow_provider_feishu_workplace.exceptions import SERVER_AT_FAULT, FeishuItemError
from airflow_provider_feishu_workplace.items.digest_table import DigestTable

LOGGER_NAME = "airflow.task.operators.airflow_provider_feishu_workplace.ItemLedger"
# Each kind of dropped or doubtful item is logged one by one this many times, then only counted.
DETAILED_WARNINGS = 5
#: The largest count a warehouse holds: a signed 64-bit integer (Parquet ``int64``, SQL ``BIGINT``).
MAX_COUNT = 2**63 - 1
#: The longest id, in characters: the ``VARCHAR(128)`` id columns of the example tables
#: (dags/feishu_workplace_tables.py); Feishu's ids are about 20 characters.
MAX_ID_CHARS = 128
_MISSING = object()


class ItemLedger:
    """The ledger of a range's items: what passed (per day, by digest) and what was dropped, and why.

    :meth:`filter` passes each well-formed item of the requested days once; the ledger holds the items
    per day, the repeats and strays it dropped, and a digest of each item it passed.

    What an item looks like (its id field, counts and name fields) comes from the endpoint's record.

    - An item that is not an object, lacks ``date``, its id or its counts, has a value of the wrong type
      or a negative count raises :class:`FeishuItemError` naming the date, the id and the field. So do
      values no warehouse column holds: a count above 2**63 - 1 (MAX_COUNT), an id longer than
      MAX_ID_CHARS characters or holding a NUL character.
    - The same date and id twice with different values raises :class:`FeishuItemError`: the server
      contradicts itself and neither copy can be trusted. An exact repeat (the whole item, byte for byte
      in canonical JSON) is dropped and counted.
    - A string holding a lone surrogate (``"\\ud800"`` in the JSON), which no UTF-8 output can hold, or
      nesting too deep to write, raises :class:`FeishuItemError`, whether the items go to a file or XCom.
    - An item for a day outside the range is dropped and counted.
    - ``uv`` greater than ``pv`` is counted and logged, and the item kept as sent: the docs do not say
      how the two are counted, so it is doubtful, not wrong.

    Per item only digests are kept, in a flat table (16 bytes a slot): a 64-bit digest of ``(date, id)``
    and a 64-bit digest of the item's canonical JSON, both BLAKE2b keyed with a random key per ledger, so a
    server cannot craft two items that collide. A changed item passes as a repeat only if its value
    digest collides with the first copy's: about 2**-64 per repeated key, which no server can aim at.

    :param first_day: the first requested day.
    :param last_day: the last requested day, included.
    :param endpoint: the items' endpoint: a record, or a registered data set's name such as ``"block"``.
    """

    def __init__(self, first_day: dt.date, last_day: dt.date, endpoint: SearchEndpoint | str) -> None:
        endpoint = get_endpoint(endpoint)
        self.first = first_day.isoformat()
        self.last = last_day.isoformat()
        self.id_field = endpoint.id_field
        self.data_set = endpoint.name
        self.counts_fields = endpoint.counts_fields
        self.name_fields = endpoint.name_fields
        self.items_per_day: Counter[str] = Counter()
        self.repeated = 0
        self.out_of_range = 0
        self.uv_above_pv = 0
        # digest of (date, id) -> digest of the whole item: digests in flat arrays keep long ranges small.
        self._seen = DigestTable()
        self._digest_key = os.urandom(16)
        self._day_in_range: dict[str, bool] = {}  # well-formed dates met so far
        self._warned: Counter[str] = Counter()
        # A logger per ledger, bound like an operator's own: it writes where the running task logs.
        self.log = task_logger(LOGGER_NAME)

    def filter(self, items: Iterable[Any]) -> Iterator[dict[str, Any]]:
        """Yield the well-formed items that belong to the range and were not seen before."""
        seen, day_in_range, id_field = self._seen, self._day_in_range, self.id_field
        for position, item in enumerate(items, start=1):
            if type(item) is not dict:
                raise self._not_an_object(item, position)
            day = item.get("date", _MISSING)
            in_range = day_in_range.get(day) if type(day) is str else None
            if in_range is None:
                in_range = self._check_day(item, day, position)
            item_id = item.get(id_field, _MISSING) if id_field else None
            if id_field and (type(item_id) is not str or not item_id):
                raise self._bad(item, position, id_field, _problem(item_id, "a non-empty string"))
            if id_field and isinstance(item_id, str) and (len(item_id) > MAX_ID_CHARS or "\x00" in item_id):
                raise self._bad(item, position, id_field, _id_problem(item_id))
            doubt = self._values(item, position)
            canonical = self._canonical(item, position)
            if not in_range:
                self.out_of_range += 1
                self._warn("out_of_range", "Dropped %s: its day is outside %s..%s", item, self.first, self.last)
                continue
            key = self._key_digest(day, item_id)
            values = int.from_bytes(hashlib.blake2b(canonical, digest_size=8, key=self._digest_key).digest(), "big")
            previous = seen.get(key)
            if previous is not None:
                if previous != values:
                    raise self._conflict(item, position)
                self.repeated += 1
                self._warn("repeated", "Dropped %s: an exact repeat of an item already passed", item)
                continue
            seen.add(key, values)
            self.items_per_day[day] += 1
            if doubt:
                self.uv_above_pv += 1
                self._warn("uv_above_pv", "Kept %s as sent, though its %s", item, doubt)
            yield item
        if self.uv_above_pv:
            self.log.warning(
                "%d %s items had uv greater than pv; they were kept as Feishu sent them (the docs do not say "
                "how pv and uv are counted)",
                self.uv_above_pv,
                self.data_set,
            )

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

    # Checks

    def _check_day(self, item: dict[str, Any], day: Any, position: int) -> bool:
        """Check a date not met before; return whether it is in the range."""
        if type(day) is not str or len(day) != 10 or day[4] != "-" or day[7] != "-" or not _is_date(day):
            raise self._bad(item, position, "date", _problem(day, "a 'YYYY-MM-DD' date"))
        in_range = self._day_in_range[day] = self.first <= day <= self.last
        return in_range

    def _key_digest(self, day: str, item_id: str | None) -> int:
        """A non-zero 64-bit digest of ``(date, id)`` (both already checked to be text)."""
        text = day if item_id is None else f"{day}\x00{item_id}"
        digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8, key=self._digest_key)
        return int.from_bytes(digest.digest(), "big") | 1

    def _canonical(self, item: dict[str, Any], position: int) -> bytes:
        """The item as canonical JSON in UTF-8 (sorted keys): what identifies it exactly."""
        try:
            return json.dumps(item, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        except UnicodeEncodeError as error:
            where = _surrogate_path(item) or "a string"
            raise self._bad(
                item,
                position,
                where,
                f"holds a lone surrogate (U+{ord(error.object[error.start]):04X}), which is "
                "not text and cannot be written as UTF-8",
            ) from None
        except (RecursionError, ValueError, TypeError) as error:
            raise self._bad(
                item, position, "(the item)", f"cannot be written as JSON ({type(error).__name__})"
            ) from None

    def _values(self, item: dict[str, Any], position: int) -> str | None:
        """Check the item's counts (and names); return what is doubtful about them."""
        values: list[Any] = []
        doubt = None
        for field in self.counts_fields:
            counts = item.get(field, _MISSING)
            if type(counts) is dict:
                pv, uv = counts.get("pv", _MISSING), counts.get("uv", _MISSING)
                if type(pv) is int and type(uv) is int and 0 <= pv <= MAX_COUNT and 0 <= uv <= MAX_COUNT:
                    if uv > pv:
                        doubt = f"{field} uv {uv} > pv {pv}"
                    values += (pv, uv)
                    continue
                for name, count in (("pv", pv), ("uv", uv)):
                    if type(count) is not int:
                        raise self._bad(item, position, f"{field}.{name}", _problem(count, "a whole number"))
                    if count < 0:
                        raise self._bad(item, position, f"{field}.{name}", f"is {count}: a count cannot be negative")
                    if count > MAX_COUNT:
                        raise self._bad(
                            item,
                            position,
                            f"{field}.{name}",
                            f"is {_short(count)}: larger than 2**63 - 1, the most a warehouse count (int64, "
                            "BIGINT) holds",
                        )
            raise self._bad(item, position, field, _problem(counts, "an object with pv and uv"))
        for field in self.name_fields:  # the names reach the output too; they may be absent
            names = item.get(field)
            if names is not None:
                self._names(item, field, names, position)
        return doubt

    def _names(self, item: dict[str, Any], field: str, names: Any, position: int) -> tuple[Any, ...]:
        if type(names) is not list:
            raise self._bad(item, position, field, _problem(names, "a list of {language, name} objects"))
        pairs = []
        for index, entry in enumerate(names):
            if type(entry) is not dict:
                raise self._bad(item, position, f"{field}[{index}]", _problem(entry, "an object"))
            for name in ("language", "name"):
                value = entry.get(name)
                if value is not None and type(value) is not str:
                    raise self._bad(item, position, f"{field}[{index}].{name}", _problem(value, "a string"))
            pairs.append((entry.get("language"), entry.get("name")))
        return tuple(pairs)

    # Messages

    def _describe(self, item: dict[str, Any]) -> str:
        """``block item (date 2026-11-19, block_id 'blk_1')``: what names the item, as far as it can be told."""
        day = item.get("date", "missing")
        day = day if type(day) is str else _short(day)
        if self.id_field is None:
            return f"{self.data_set} item (date {day})"
        item_id = item.get(self.id_field, _MISSING)
        item_id = "missing" if item_id is _MISSING else _short(item_id)
        return f"{self.data_set} item (date {_short(day, quote=False)}, {self.id_field} {item_id})"

    def _bad(self, item: dict[str, Any], position: int, field: str, problem: str) -> FeishuItemError:
        return FeishuItemError(
            f"Feishu sent a malformed {self._describe(item)}, item #{position} received: "
            f"field {field} {problem}. {SERVER_AT_FAULT}"
        )

    def _not_an_object(self, item: Any, position: int) -> FeishuItemError:
        shown = _short(item, 77)
        return FeishuItemError(
            f"Feishu sent a {self.data_set} item that is not an object: item #{position} received is "
            f"{_kind(item)} ({shown}), so it has no date, id or counts. {SERVER_AT_FAULT}"
        )

    def _conflict(self, item: dict[str, Any], position: int) -> FeishuItemError:
        fields = (*self.counts_fields, *self.name_fields)
        values = _short({field: item.get(field) for field in fields}, limit=300)
        return FeishuItemError(
            f"Feishu sent the {self._describe(item)} twice with different values (item #{position} received "
            f"has {values}): the server contradicts itself, so neither copy can be trusted. {SERVER_AT_FAULT}"
        )

    def _warn(self, kind: str, message: str, item: dict[str, Any], *args: Any) -> None:
        self._warned[kind] += 1
        if self._warned[kind] <= DETAILED_WARNINGS:
            self.log.warning(message, self._describe(item), *args)
        elif self._warned[kind] == DETAILED_WARNINGS + 1:
            self.log.warning("More %s items like these (%s) are counted, not logged one by one", self.data_set, kind)


def _is_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _id_problem(item_id: str) -> str:
    if len(item_id) > MAX_ID_CHARS:
        return (
            f"is {_short(item_id)}, {len(item_id)} characters long: longer than {MAX_ID_CHARS}, the most a "
            f"warehouse id column (VARCHAR({MAX_ID_CHARS})) holds"
        )
    return f"is {_short(item_id)}: it holds a NUL character, which no warehouse text column holds"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {str: "a string", int: "a number", float: "a number", bool: "a boolean", list: "a list"}.get(
        type(value), f"a {type(value).__name__}"
    )


def _problem(value: Any, expected: str) -> str:
    """``is '12' (a string), not a whole number``, or ``is missing (expected ...)``."""
    if value is _MISSING:
        return f"is missing (expected {expected})"
    return f"is {_short(value)} ({_kind(value)}), not {expected}"


def _short(value: Any, limit: int = 60, *, quote: bool = True) -> str:
    """``repr(value)`` (or the text itself, ``quote=False``), cut to about ``limit`` characters: a server's
    value may be megabytes long, or nested too deeply to show."""
    if type(value) is str:
        text = value if len(value) <= limit else value[:limit] + "..."
        return repr(text) if quote else text
    if isinstance(value, dict | list):
        try:
            text = json.dumps(value, ensure_ascii=False)
        except (RecursionError, ValueError, TypeError):
            return f"a {type(value).__name__} too deep to show"
        return text if len(text) <= limit else text[:limit] + "..."
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _surrogate_path(value: Any, path: str = "") -> str | None:
    """The dotted path of the first string (key or value) in ``value`` that holds a lone surrogate."""
    if type(value) is str:
        return path or None if any("\ud800" <= ch <= "\udfff" for ch in value) else None
    if isinstance(value, dict):
        for key, inner in value.items():
            here = f"{path}.{key}" if path else str(key)
            if type(key) is str and any("\ud800" <= ch <= "\udfff" for ch in key):
                return here.encode("utf-8", "backslashreplace").decode()
            found = _surrogate_path(inner, here)
            if found:
                return found
    if isinstance(value, list):
        for index, inner in enumerate(value):
            found = _surrogate_path(inner, f"{path}[{index}]")
            if found:
                return found
    return None
