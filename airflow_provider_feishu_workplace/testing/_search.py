"""The three access-data search endpoints: parameter checks and paging."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from airflow_provider_feishu_workplace.testing import _paging, _replies
from airflow_provider_feishu_workplace.testing._data import Dataset
from airflow_provider_feishu_workplace.testing._replies import Reply

DEFAULT_PAGE_SIZE = 20
FIELD_VALIDATION_FAILED = 99992402

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_INTEGER = re.compile(r"[+-]?\d{1,9}", re.ASCII)


@dataclass(frozen=True)
class SearchSpec:
    """What differs between the three endpoints: error codes, page-size limit, filter parameter."""

    bad_date: int
    bad_range: int
    bad_page_token: int
    bad_page_size: int | None
    max_page_size: int
    filter_param: str | None


SPECS = {
    "workplace": SearchSpec(1628001, 1628002, 1628004, None, 200, None),
    "custom_workplace": SearchSpec(1621001, 1621002, 1621004, None, 100, "custom_workplace_id"),
    "block": SearchSpec(1629001, 1629002, 1629005, 1629006, 200, "block_id"),
}


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

    endpoint: str
    from_date: datetime.date
    to_date: datetime.date
    page_size: int
    filter_id: str | None
    fingerprint: str
    offset: int
    page_token: str | None  # the token the request carried, if any

    def token(self, offset: int) -> str:
        """The page token for the page of this query that starts at ``offset``."""
        return _paging.encode(offset, self.fingerprint)


def parse(endpoint: str, query: dict[str, str]) -> PageRequest | Reply:
    """Check one search request's query-string parameters: the page it asks for, or the error answer."""
    spec = SPECS[endpoint]
    dates = []
    for name in ("from_date", "to_date"):
        value = query.get(name)
        if not value:
            return _field_violation(name, value, f"{name} is required")
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
        return _field_violation("page_size", raw_size, description)

    filter_id = (query.get(spec.filter_param) or None) if spec.filter_param else None
    fingerprint = _paging.fingerprint(endpoint, from_date, to_date, filter_id)
    page_token = query.get("page_token")
    offset = _paging.decode(page_token, fingerprint) if page_token else 0
    if offset is None:
        return _replies.error(spec.bad_page_token, "invalid page_token")
    return PageRequest(endpoint, from_date, to_date, page_size, filter_id, fingerprint, offset, page_token or None)


def search(endpoint: str, query: dict[str, str], dataset: Dataset) -> Reply:
    """Answer one page of ``endpoint`` for the query-string parameters ``query``."""
    request = parse(endpoint, query)
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


def _field_violation(field: str, value: str | None, description: str) -> Reply:
    """The gateway's generic answer to a parameter that fails validation."""
    violation = {"field": field, "value": value or "", "description": description}
    return _replies.error(FIELD_VALIDATION_FAILED, "field validation failed", field_violations=[violation])
