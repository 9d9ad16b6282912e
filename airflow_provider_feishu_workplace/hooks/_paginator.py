"""The Open Platform's page-token paginator: follows ``page_token`` while ``has_more``, and refuses answers
that break the paging contract instead of looping or stopping short."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from airflow_provider_feishu_workplace.exceptions import SERVER_AT_FAULT, FeishuProtocolError

#: The page budget of a query when its caller names none.
MAX_PAGES = 10_000
# Empty pages that still say has_more: one can happen at a boundary, three in a row is a server paging nowhere.
MAX_EMPTY_PAGES_IN_A_ROW = 3

_ABSENT = object()


@dataclass(eq=False)
class PageTokenPaginator:
    """Follow one query's pages: ``page_token`` in the query string, ``has_more``, ``page_token`` and the
    items in the answer's ``data`` (the Open Platform's list and search APIs).

    Used as a loop (dlt's paginator protocol)::

        paginator = PageTokenPaginator(path, max_pages=50)
        while paginator.has_next_page:
            answer = send(params=paginator.update_request(query))
            yield from paginator.update_state(answer)

    The contract guards live here: a page whose ``data``, ``has_more``, ``page_token`` or items are missing or
    contradict each other, a token handed out twice, endless empty pages or more pages than the budget raise
    :class:`~airflow_provider_feishu_workplace.exceptions.FeishuProtocolError` before their items are given.
    Only a page that clearly ends the data set ends the pull. The caller supplies what the paginator cannot
    know: the budget, the page size asked for, and how to name the query in messages.

    :param path: the API's path, named in messages.
    :param max_pages: the most pages to follow before the server is deemed to page forever.
    :param page_size: the page size asked for: a page with more items breaks the contract; ``None``: unchecked.
    :param items_key: the field of ``data`` that holds the page's items.
    :param item_filter: ``(field, value)`` the query filtered on: an item with another value is an error.
    :param last_page_may_carry_token: let ``has_more`` false end the pull even with a ``page_token`` (some
        general list APIs repeat a token on their last page).
    :param query_label: what the query covers, for messages (``"for 2026-11-01..2026-11-30"``).
    """

    path: str
    _: KW_ONLY
    max_pages: int = MAX_PAGES
    page_size: int | None = None
    items_key: str = "items"
    item_filter: tuple[str, str] | None = None
    last_page_may_carry_token: bool = False
    query_label: str = ""
    has_next_page: bool = field(default=True, init=False)
    pages: int = field(default=0, init=False)
    items: int = field(default=0, init=False)
    _page_token: str | None = field(default=None, init=False, repr=False)
    _seen_tokens: set[str] = field(default_factory=set, init=False, repr=False)
    _empty_in_a_row: int = field(default=0, init=False, repr=False)

    def update_request(self, query: dict[str, str]) -> dict[str, str]:
        """Return the next page's query: ``query`` with the page token the last answer handed out."""
        return query if self._page_token is None else {**query, "page_token": self._page_token}

    def update_state(self, answer: dict[str, Any]) -> list[Any]:
        """Check one answer against the paging contract and return its items; sets :attr:`has_next_page`."""
        self.pages += 1
        data = answer.get("data", _ABSENT)
        if not isinstance(data, dict):
            what = "missing" if data is _ABSENT else f"{_shown(data)}, not an object"
            raise self._broken(f"'data' is {what}, so the page says neither its items nor whether more follow")
        has_more = data.get("has_more", _ABSENT)
        if not isinstance(has_more, bool):
            what = "missing" if has_more is _ABSENT else f"{_shown(has_more)}, not true or false"
            raise self._broken(f"has_more is {what}, so whether the data set ends cannot be told")
        page_token = data.get("page_token")
        if page_token is not None and not isinstance(page_token, str):
            raise self._broken(f"page_token is {_shown(page_token)}, not a string")
        if not has_more and page_token and not self.last_page_may_carry_token:
            raise self._broken("has_more is false but the page carries a page_token: the page contradicts itself")
        page_items = self._items(data, has_more)
        if has_more:
            self._check_next(page_token, page_items)
        self.items += len(page_items)
        self.has_next_page = has_more
        self._page_token = page_token if has_more else None
        return page_items

    def _items(self, data: dict[str, Any], has_more: bool) -> list[Any]:
        key = self.items_key
        page_items = data.get(key, _ABSENT)
        if page_items is _ABSENT or page_items is None:
            if has_more:
                raise self._broken(f"the page has no {key!r} list but says has_more")
            return []  # a last page with nothing on it may leave the list out
        if not isinstance(page_items, list):
            raise self._broken(f"{key!r} is {_shown(page_items)}, not a list")
        if self.page_size is not None and len(page_items) > self.page_size:
            raise self._broken(
                f"the page has {len(page_items)} items, more than the page_size of {self.page_size} asked for"
            )
        if self.item_filter is not None:
            self._check_filter(page_items, self.item_filter)
        return page_items

    def _check_next(self, page_token: str | None, page_items: list[Any]) -> None:
        if not page_token:
            raise self._broken("has_more is true but there is no page_token to ask for the next page with")
        if page_token in self._seen_tokens:
            raise self._broken("it handed out a page_token it had handed out before, so paging would loop")
        self._seen_tokens.add(page_token)
        self._empty_in_a_row = 0 if page_items else self._empty_in_a_row + 1
        if self._empty_in_a_row == MAX_EMPTY_PAGES_IN_A_ROW:
            raise self._broken(f"{self._empty_in_a_row} empty pages in a row each said has_more")
        if self.pages >= self.max_pages:
            raise self._broken(
                f"it still had more after {self.pages} pages, more than any real answer takes "
                f"(max_pages={self.max_pages}; pass a larger max_pages to the hook if the data really is that big)"
            )

    def _check_filter(self, page_items: list[Any], item_filter: tuple[str, str]) -> None:
        name, wanted = item_filter
        for position, item in enumerate(page_items, start=self.items + 1):
            found = item.get(name, _ABSENT) if isinstance(item, dict) else _ABSENT
            if found != wanted:
                what = "no " + name if found is _ABSENT else f"{name} {_shown(found)}"
                raise self._broken(f"item #{position} has {what}, but only {name} {wanted!r} was asked for")

    def _broken(self, what: str) -> FeishuProtocolError:
        label = f" {self.query_label}" if self.query_label else ""
        return FeishuProtocolError(
            f"Feishu broke the paging contract of {self.path}{label}: {what} "
            f"(page {self.pages}, {self.items} items before it). {SERVER_AT_FAULT}"
        )


def _shown(value: Any) -> str:
    """A short description of a value from the server, for messages (never the whole of a huge value)."""
    if value is None:
        return "null"
    if isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, str):
        return repr(value) if len(value) <= 60 else repr(value[:57] + "...")
    return f"a {type(value).__name__}"
