"""Hostile answers: code-0 search pages that break the API's contract, served by the ``hostile`` fault.

A hostile answer looks like success (HTTP 200, ``code`` 0) but its items or its paging are wrong, the
way a buggy or compromised server might answer. Each mode changes one thing about the page the
request asked for; everything else is the normal page. Modes that add an item keep the page within
``page_size`` by pushing the page's last item to the next page, so no item of the query is lost.
Item modes leave a page without items as it is.
"""

from __future__ import annotations

import copy
import datetime
import json
from typing import Any

from airflow_provider_feishu_workplace.testing import _replies
from airflow_provider_feishu_workplace.testing._data import Dataset
from airflow_provider_feishu_workplace.testing._replies import Reply
from airflow_provider_feishu_workplace.testing._search import PageRequest

#: Each hostile mode and what the answer does.
MODES: dict[str, str] = {
    # item modes: one item of the page (parameter ``item``, default 0, the page's first) is changed
    "missing_field": "the item lacks ``field`` (a dotted path such as 'date', 'block_id' or 'access_data.pv'; "
    "default: the counts object, 'access_data', or 'all_workplace' on the workplace endpoint)",
    "string_pv": "the item's pv is a string ('12' instead of 12)",
    "null_access_data": "the item's counts object is null",
    "not_an_object": "the item is a JSON string holding the item's JSON instead of an object",
    "negative_pv": "the item's pv is negative",
    "negative_uv": "the item's uv is negative",
    "uv_above_pv": "the item's uv is pv + 1 (not forbidden by the docs, but implausible)",
    # modes that put one more item first on the page
    "out_of_range_date": "the page starts with a copy of its first item dated the day before from_date",
    "duplicate_item": "the page starts with an exact copy of the item before it (the previous page's last "
    "item; on the first page, its own first item)",
    "conflicting_duplicate": "like duplicate_item, but the copy's pv is one higher",
    # paging modes
    "has_more_without_token": "has_more is true but there is no page_token",
    "repeat_token": "has_more is true and page_token is the token the request carried (on the first page, "
    "the token of the first page): a client that follows it asks for the same page forever",
    "token_cycle": "has_more is true and, from the third page of the query on, page_token leads one page "
    "back: with times=None the tokens go A, B, A, B, ...",
    "endless_pages": "has_more is always true with a new page_token; past the data the pages start again "
    "from its first item, so they are never empty",
    "empty_pages": "no items, has_more true and a new page_token",
    "oversized_page": "page_size + 1 items (copies of the last item when the data runs out)",
    "huge_body": "the normal page plus ``size`` bytes of padding (default 21 MiB) in data.padding; with "
    "content_length=False the body has no Content-Length and ends when the connection closes",
}

#: The hostile fault's parameters and their defaults.
PARAMS: dict[str, Any] = {"item": 0, "field": None, "size": 21 * 1024 * 1024, "content_length": True}

_ONE_DAY = datetime.timedelta(days=1)


def check(mode: Any) -> None:
    """Raise ``ValueError`` naming the valid modes when ``mode`` is not one."""
    if mode not in MODES:
        raise ValueError(f"unknown hostile mode {mode!r}; choose one of {list(MODES)}")


def hostile_reply(mode: str, params: dict[str, Any], request: PageRequest, dataset: Dataset) -> Reply:
    """The hostile answer of ``mode`` to a search request whose parameters were valid."""
    endpoint, offset, size = request.endpoint, request.offset, request.page_size

    def page(start: int, limit: int) -> list[dict[str, Any]]:
        return dataset.page(endpoint, request.from_date, request.to_date, start, limit, request.filter_id)

    total = dataset.count(endpoint, request.from_date, request.to_date, request.filter_id)
    items: list[Any] = page(offset, size)
    next_offset = offset + len(items)
    has_more: bool | None = None  # None: whether items are left
    page_token: str | None = None  # None: the token of next_offset when has_more
    counts = request.spec.counts_fields[0]
    extra: dict[str, Any] | None = None  # an item to put first on the page
    index = min(params["item"], len(items) - 1)
    item = items[index] if items else None

    match mode:
        case "missing_field" if item is not None:
            _delete(item, params["field"] or counts)
        case "string_pv" if item is not None:
            item[counts]["pv"] = str(item[counts]["pv"])
        case "null_access_data" if item is not None:
            item[counts] = None
        case "not_an_object" if item is not None:
            items[index] = json.dumps(item, ensure_ascii=False)
        case "negative_pv" | "negative_uv" if item is not None:
            name = mode[-2:]
            item[counts][name] = -max(item[counts][name], 1)
        case "uv_above_pv" if item is not None:
            item[counts]["uv"] = item[counts]["pv"] + 1
        case "out_of_range_date" if items:
            extra = copy.deepcopy(items[0])
            extra["date"] = (request.from_date - _ONE_DAY).isoformat()
        case "duplicate_item" | "conflicting_duplicate" if items:
            extra = copy.deepcopy(page(offset - 1, 1)[0] if offset else items[0])
            if mode == "conflicting_duplicate":
                extra[counts]["pv"] += 1
        case "has_more_without_token":
            has_more = True
        case "repeat_token":
            has_more, page_token = True, request.page_token or request.token(offset)
        case "token_cycle":
            has_more = True
            if offset >= 2 * size:  # earlier pages hand out the normal tokens A and B
                page_token = request.token(offset - size)
        case "endless_pages":
            items = _wrapped(page, offset, size, total)
            has_more, page_token = True, request.token(offset + size)
        case "empty_pages":
            items = []
            has_more, page_token = True, request.token(offset + size)
        case "oversized_page" if items:
            items = page(offset, size + 1)
            next_offset = offset + len(items)
            items += [copy.deepcopy(items[-1]) for _ in range(size + 1 - len(items))]

    if extra is not None:
        if len(items) == size:
            items.pop()  # it comes first on the next page instead
        items.insert(0, extra)
        next_offset = offset + len(items) - 1
    if has_more is None:
        has_more = next_offset < total
    data: dict[str, Any] = {"items": items, "has_more": has_more}
    if has_more and mode != "has_more_without_token":
        data["page_token"] = page_token or request.token(next_offset)
    if mode == "huge_body":
        data["padding"] = "x" * params["size"]
    reply = _replies.success(data)
    reply.content_length = bool(params["content_length"]) or mode != "huge_body"
    return reply


def _delete(item: dict[str, Any], path: str) -> None:
    *parents, name = path.split(".")
    for parent in parents:
        item = item[parent]
    item.pop(name, None)


def _wrapped(page, offset: int, size: int, total: int) -> list[dict[str, Any]]:
    """``size`` items from ``offset`` of the data repeated end to end (none when there is no data)."""
    items: list[dict[str, Any]] = []
    while total and len(items) < size:
        start = (offset + len(items)) % total
        items += page(start, min(size - len(items), total - start))
    return items
