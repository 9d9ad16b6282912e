"""The access-data search endpoints as the double describes them: parameter checks and paging.

:data:`SPECS` is the double's own description of the three real endpoints, written from the API's
documentation (the double never imports the provider's records, so it can check them);
:meth:`FeishuDouble.add_endpoint` adds more to one double.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import Any, Protocol

from airflow_provider_feishu_workplace.testing import _page_tokens, _replies
from airflow_provider_feishu_workplace.testing._replies import Reply

DEFAULT_PAGE_SIZE = 20

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_INTEGER = re.compile(r"[+-]?\d{1,9}", re.ASCII)


@dataclass(frozen=True)
class SearchSpec:
    """What differs between the search endpoints: path, error codes, page-size limit, filter, item fields.

    :param name: the endpoint's name (``inject(endpoint=...)``, ``calls(...)``, ``expected_items(...)``).
    :param path: the API path (``POST``).
    :param bad_date: the code of a malformed date; ``bad_range``: of from_date after to_date;
        ``internal_error``: of "internal error, retry"; ``bad_page_token``: of an unknown page_token;
        ``bad_page_size``: of a page_size out of range (``None``: the gateway's field validation answers).
    :param max_page_size: the largest page_size accepted.
    :param filter_param: the query parameter, and item field, that selects one id (``None``: no filter).
    :param counts_fields: the item fields holding ``{pv, uv}``.
    """

    name: str
    path: str
    bad_date: int
    bad_range: int
    internal_error: int
    bad_page_token: int
    bad_page_size: int | None
    max_page_size: int
    filter_param: str | None
    counts_fields: tuple[str, ...]


_WORKPLACE_V1 = "/open-apis/workplace/v1"
# The API documentation's facts, one row per endpoint, stated here and never derived from the provider's
# records (a wrong record must fail a test, not be mirrored by the double).
# fmt: off
SPECS: dict[str, SearchSpec] = {
    spec.name: spec
    for spec in (
        SearchSpec(name="workplace", path=f"{_WORKPLACE_V1}/workplace_access_data/search",
                   bad_date=1628001, bad_range=1628002, internal_error=1628003, bad_page_token=1628004,
                   bad_page_size=None, max_page_size=200, filter_param=None,
                   counts_fields=("all_workplace", "default_workplace")),
        # One Lark page documents 1-100 for this endpoint's page_size.
        SearchSpec(name="custom_workplace", path=f"{_WORKPLACE_V1}/custom_workplace_access_data/search",
                   bad_date=1621001, bad_range=1621002, internal_error=1621003, bad_page_token=1621004,
                   bad_page_size=None, max_page_size=100, filter_param="custom_workplace_id",
                   counts_fields=("access_data",)),
        SearchSpec(name="block", path=f"{_WORKPLACE_V1}/workplace_block_access_data/search",
                   bad_date=1629001, bad_range=1629002, internal_error=1629004, bad_page_token=1629005,
                   bad_page_size=1629006, max_page_size=200, filter_param="block_id",
                   counts_fields=("access_data",)),
    )
}
# fmt: on


def parse_date(value: str) -> datetime.date | None:
    """A strict ``yyyy-MM-dd`` date, or ``None``."""
    if not _DATE.fullmatch(value):
        return None
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class PageRequest:
    """A search request whose parameters passed every check: which page of which query it asks for."""

    spec: SearchSpec
    from_date: datetime.date
    to_date: datetime.date
    page_size: int
    filter_id: str | None
    fingerprint: str
    offset: int
    page_token: str | None  # the token the request carried, if any

    @property
    def endpoint(self) -> str:
        """The endpoint's name."""
        return self.spec.name

    def token(self, offset: int) -> str:
        """The page token for the page of this query that starts at ``offset``."""
        return _page_tokens.encode(offset, self.fingerprint)


def parse(spec: SearchSpec, query: dict[str, str]) -> PageRequest | Reply:
    """Check one search request's query-string parameters: the page it asks for, or the error answer."""
    endpoint = spec.name
    dates = []
    for name in ("from_date", "to_date"):
        value = query.get(name)
        if not value:
            return _replies.field_violation(name, value, f"{name} is required")
        day = parse_date(value)
        if day is None:
            return _replies.error(spec.bad_date, f"invalid {name} {value!r}, the format is yyyy-MM-dd")
        dates.append(day)
    from_date, to_date = dates
    if from_date > to_date:
        return _replies.error(spec.bad_range, "from_date must not be later than to_date")

    raw_size = query.get("page_size") or str(DEFAULT_PAGE_SIZE)
    page_size = int(raw_size) if _INTEGER.fullmatch(raw_size) else 0
    if not 1 <= page_size <= spec.max_page_size:
        description = f"page_size must be an integer from 1 to {spec.max_page_size}"
        if spec.bad_page_size is not None:
            return _replies.error(spec.bad_page_size, description)
        return _replies.field_violation("page_size", raw_size, description)

    filter_id = (query.get(spec.filter_param) or None) if spec.filter_param else None
    fingerprint = _page_tokens.fingerprint(endpoint, from_date, to_date, filter_id)
    page_token = query.get("page_token")
    offset = _page_tokens.decode(page_token, fingerprint) if page_token else 0
    if offset is None:
        return _replies.error(spec.bad_page_token, "invalid page_token")
    return PageRequest(spec, from_date, to_date, page_size, filter_id, fingerprint, offset, page_token or None)


class ItemSource(Protocol):
    """Where a search's items come from: the double's data (``testing._data.Dataset``, which reads :data:`SPECS`).

    Both take the data set's name, the first and last day, and the id filtered on (``None``: every id).
    """

    def count(self, kind: str, first: datetime.date, last: datetime.date, filter_id: str | None, /) -> int:
        """Return how many items the query pages through."""

    def page(
        self, kind: str, first: datetime.date, last: datetime.date, offset: int, limit: int, filter_id: str | None, /
    ) -> list[dict[str, Any]]:
        """Return up to ``limit`` of the query's items from ``offset`` on."""


def search(spec: SearchSpec, query: dict[str, str], dataset: ItemSource) -> Reply:
    """Answer one page of the endpoint ``spec`` describes for the query-string parameters ``query``."""
    endpoint = spec.name
    request = parse(spec, query)
    if isinstance(request, Reply):
        return request
    total = dataset.count(endpoint, request.from_date, request.to_date, request.filter_id)
    items = dataset.page(
        endpoint, request.from_date, request.to_date, request.offset, request.page_size, request.filter_id
    )
    end = request.offset + len(items)
    data = {"items": items, "has_more": end < total}
    if end < total:
        data["page_token"] = request.token(end)
    return _replies.success(data)
