"""Follow a search endpoint's pages, refusing answers that break the paging contract instead of looping."""

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


def follow_pages(
    post: Callable[..., dict[str, Any]], path: str, query: dict[str, str], *, max_pages: int | None = None
) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """Yield ``(page_number, items)`` for each page of a search, following ``page_token`` while ``has_more``.

    A page that breaks the contract raises FeishuProtocolError before its items are yielded.

    :param post: sends one request: ``post(path, params=query)`` returns the JSON answer.
    :param path: the endpoint's path.
    :param query: the first page's query (``from_date``, ``to_date``, ``page_size`` and filters).
    :param max_pages: the most pages to follow; ``None``: the query's days times 10,000 items, in full
        pages, at most 10,000 pages.
    """
    first_day, last_day = query["from_date"], query["to_date"]
    page_size = int(query["page_size"])
    max_pages = max_pages or default_max_pages(first_day, last_day, page_size)
    seen_page_tokens: set[str] = set()
    pages = items = empty_in_a_row = 0

    def broken(what: str) -> FeishuProtocolError:
        return FeishuProtocolError(
            f"Feishu broke the paging contract of {path} for {first_day}..{last_day}: {what} "
            f"(page {pages}, {items} items before it). {SERVER_AT_FAULT}"
        )

    while True:
        answer = post(path, params=query)
        pages += 1
        data = answer.get("data")
        data = {} if data is None else data
        if not isinstance(data, dict):
            raise broken(f"'data' is a {type(data).__name__}, not an object")
        page_items = data.get("items")
        page_items = [] if page_items is None else page_items
        if not isinstance(page_items, list):
            raise broken(f"'items' is a {type(page_items).__name__}, not a list")
        if len(page_items) > page_size:
            raise broken(f"the page has {len(page_items)} items, more than the page_size of {page_size} asked for")
        has_more = data.get("has_more")
        if has_more is not None and not isinstance(has_more, bool):
            raise broken(f"has_more is {has_more!r}, not true or false")
        if has_more:
            page_token = data.get("page_token")
            if not page_token or not isinstance(page_token, str):
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


def default_max_pages(first_day: str, last_day: str, page_size: int) -> int:
    """Return the page budget of a query over ``first_day..last_day`` (``YYYY-MM-DD``)."""
    days = (dt.date.fromisoformat(last_day) - dt.date.fromisoformat(first_day)).days + 1
    return min(MAX_PAGES, math.ceil(days * GENEROUS_ITEMS_PER_DAY / page_size))
