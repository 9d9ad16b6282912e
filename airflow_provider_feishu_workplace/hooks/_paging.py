"""Follow an endpoint's pages, refusing answers that break the paging contract instead of looping."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator
from typing import Any

from airflow_provider_feishu_workplace.exceptions import SERVER_AT_FAULT, FeishuProtocolError

# The default page budget of one query: its days times a generous number of items a day (tenants have
# tens of blocks and custom workplaces, not thousands), in full pages, and never more than MAX_PAGES.
GENEROUS_ITEMS_PER_DAY = 10_000
MAX_PAGES = 10_000
# Empty pages that still say has_more: one can happen at a boundary, three in a row is a server paging nowhere.
MAX_EMPTY_PAGES_IN_A_ROW = 3


_ABSENT = object()


def follow_pages(
    post: Callable[..., dict[str, Any]],
    path: str,
    query: dict[str, str],
    *,
    max_pages: int | None = None,
    item_filter: tuple[str, str] | None = None,
    items_key: str = "items",
    last_page_may_carry_token: bool = False,
) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """Yield ``(page_number, items)`` for each page, following ``page_token`` while ``has_more``.

    A page that breaks the contract raises FeishuProtocolError before its items are yielded. Only a page
    that clearly ends the data set (``has_more`` false and no ``page_token``) ends the pull: a missing or
    contradictory field is an error, never a silently short pull.

    :param post: sends one request: ``post(path, params=query)`` returns the JSON answer.
    :param path: the endpoint's path.
    :param query: the first page's query (``page_size``, filters; for a search ``from_date`` and ``to_date``).
    :param max_pages: the most pages to follow; ``None``: for a search, the query's days times 10,000
        items, in full pages, at most 10,000 pages; otherwise 10,000 pages.
    :param item_filter: ``(field, value)`` the query filtered on (``block_id`` or ``custom_workplace_id``):
        an item with another value is an error, not data.
    :param items_key: the field of ``data`` that holds the page's items.
    :param last_page_may_carry_token: let ``has_more`` false end the pull even with a ``page_token`` (some
        general list APIs repeat a token on their last page); the search endpoints refuse it.
    """
    first_day, last_day = query.get("from_date"), query.get("to_date")
    page_size = int(query["page_size"]) if "page_size" in query else None
    if not max_pages and first_day and last_day and page_size:
        max_pages = default_max_pages(first_day, last_day, page_size)
    max_pages = max_pages or MAX_PAGES
    span = f" for {first_day}..{last_day}" if first_day and last_day else ""
    seen_page_tokens: set[str] = set()
    pages = items = empty_in_a_row = 0

    def broken(what: str) -> FeishuProtocolError:
        return FeishuProtocolError(
            f"Feishu broke the paging contract of {path}{span}: {what} "
            f"(page {pages}, {items} items before it). {SERVER_AT_FAULT}"
        )

    while True:
        answer = post(path, params=query)
        pages += 1
        data = answer.get("data", _ABSENT)
        if not isinstance(data, dict):
            what = "missing" if data is _ABSENT else f"{_shown(data)}, not an object"
            raise broken(f"'data' is {what}, so the page says neither its items nor whether more follow")
        has_more = data.get("has_more", _ABSENT)
        if not isinstance(has_more, bool):
            what = "missing" if has_more is _ABSENT else f"{_shown(has_more)}, not true or false"
            raise broken(f"has_more is {what}, so whether the data set ends cannot be told")
        page_token = data.get("page_token")
        if page_token is not None and not isinstance(page_token, str):
            raise broken(f"page_token is {_shown(page_token)}, not a string")
        if not has_more and page_token and not last_page_may_carry_token:
            raise broken("has_more is false but the page carries a page_token: the page contradicts itself")
        page_items = data.get(items_key, _ABSENT)
        if page_items is _ABSENT or page_items is None:
            if has_more:
                raise broken(f"the page has no {items_key!r} list but says has_more")
            page_items = []  # a last page with nothing on it may leave the list out
        if not isinstance(page_items, list):
            raise broken(f"{items_key!r} is {_shown(page_items)}, not a list")
        if page_size is not None and len(page_items) > page_size:
            raise broken(f"the page has {len(page_items)} items, more than the page_size of {page_size} asked for")
        if item_filter is not None:
            _check_filter(page_items, item_filter, broken, items)
        if has_more:
            if not page_token:
                raise broken("has_more is true but there is no page_token to ask for the next page with")
            if page_token in seen_page_tokens:
                raise broken("it handed out a page_token it had handed out before, so paging would loop")
            empty_in_a_row = 0 if page_items else empty_in_a_row + 1
            if empty_in_a_row == MAX_EMPTY_PAGES_IN_A_ROW:
                raise broken(f"{empty_in_a_row} empty pages in a row each said has_more")
            if pages == max_pages:
                raise broken(
                    f"it still had more after {pages} pages, more than any real answer takes "
                    f"(max_pages={max_pages}; pass a larger max_pages to the hook if the data really is that big)"
                )
        items += len(page_items)
        yield pages, page_items
        if not has_more:
            return
        seen_page_tokens.add(page_token)
        query = {**query, "page_token": page_token}


def _check_filter(page_items: list[Any], item_filter: tuple[str, str], broken, before: int) -> None:
    name, wanted = item_filter
    for position, item in enumerate(page_items, start=before + 1):
        found = item.get(name, _ABSENT) if isinstance(item, dict) else _ABSENT
        if found != wanted:
            what = "no " + name if found is _ABSENT else f"{name} {_shown(found)}"
            raise broken(f"item #{position} has {what}, but only {name} {wanted!r} was asked for")


def _shown(value: Any) -> str:
    """A short description of a value from the server, for messages (never the whole of a huge value)."""
    if value is None:
        return "null"
    if isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, str):
        return repr(value) if len(value) <= 60 else repr(value[:57] + "...")
    return f"a {type(value).__name__}"


def default_max_pages(first_day: str, last_day: str, page_size: int) -> int:
    """Return the page budget of a query over ``first_day..last_day`` (``YYYY-MM-DD``)."""
    days = (dt.date.fromisoformat(last_day) - dt.date.fromisoformat(first_day)).days + 1
    return min(MAX_PAGES, math.ceil(days * GENEROUS_ITEMS_PER_DAY / page_size))
