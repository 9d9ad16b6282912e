"""Hook for the Feishu (Lark) Workplace v1 access-data search endpoints."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Generator, Iterator
from typing import Any

from airflow_provider_feishu_workplace.days import DateLike, to_day_range
from airflow_provider_feishu_workplace.endpoints import BLOCK, CUSTOM_WORKPLACE, WORKPLACE, SearchEndpoint, get_endpoint
from airflow_provider_feishu_workplace.exceptions import FeishuConfigError
from airflow_provider_feishu_workplace.hooks._paginator import MAX_PAGES, PageTokenPaginator
from airflow_provider_feishu_workplace.hooks.feishu import ApiRequest, FeishuHook

__all__ = ["FeishuHook", "FeishuWorkplaceHook"]

# The default page budget of one query: its days times a generous number of items a day (tenants have
# tens of blocks and custom workplaces, not thousands), in full pages, and never more than MAX_PAGES.
GENEROUS_ITEMS_PER_DAY = 10_000


class FeishuWorkplaceHook(FeishuHook):
    """Read Feishu Workplace access data: :class:`FeishuHook` with a method per access-data endpoint.

    Same connection and arguments as :class:`FeishuHook` (connection type ``feishu``). The app needs the
    scope ``workplace:workplace_using_data:read``. Each endpoint is described once, by its record in
    :mod:`airflow_provider_feishu_workplace.endpoints`; :meth:`iter_access_data` pulls any registered one.
    """

    hook_name = "Feishu Workplace"

    # Access data

    def iter_workplace_access_data(
        self, from_date: DateLike, to_date: DateLike, *, page_size: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Yield every workplace access item (``date``, ``all_workplace``, ``default_workplace``) in the range.

        :param from_date: first day, ``YYYY-MM-DD``, a date or a datetime.
        :param to_date: last day, included.
        :param page_size: items per request, up to the endpoint's maximum (the default).
        """
        return self.iter_access_data(WORKPLACE, from_date, to_date, page_size=page_size)

    def iter_custom_workplace_access_data(
        self,
        from_date: DateLike,
        to_date: DateLike,
        *,
        custom_workplace_id: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield every custom workplace access item in the range, optionally for one custom workplace.

        ``from_date``, ``to_date`` and ``page_size`` as in :meth:`iter_workplace_access_data`.

        :param custom_workplace_id: only this custom workplace's items.
        """
        return self.iter_access_data(
            CUSTOM_WORKPLACE, from_date, to_date, page_size=page_size, item_id=custom_workplace_id
        )

    def iter_workplace_block_access_data(
        self, from_date: DateLike, to_date: DateLike, *, block_id: str | None = None, page_size: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Yield every workplace block access item in the range, optionally for one block.

        ``from_date``, ``to_date`` and ``page_size`` as in :meth:`iter_workplace_access_data`.

        :param block_id: only this block's items.
        """
        return self.iter_access_data(BLOCK, from_date, to_date, page_size=page_size, item_id=block_id)

    def iter_access_data(
        self,
        dataset: str | SearchEndpoint,
        from_date: DateLike,
        to_date: DateLike,
        *,
        page_size: int | None = None,
        item_id: str | None = None,
    ) -> Generator[dict[str, Any], None, None]:
        """Yield the items of one data set, following pages; arguments are checked before any request.

        :param dataset: a registered data set's name (``workplace``, ``custom_workplace``, ``block``, see
            :data:`~airflow_provider_feishu_workplace.endpoints.ENDPOINTS`) or a :class:`SearchEndpoint`.
        :param from_date: first day, ``YYYY-MM-DD``, a date or a datetime.
        :param to_date: last day, included.
        :param page_size: items per request; defaults to the endpoint's maximum.
        :param item_id: the value of the endpoint's id field to filter on (the custom workplace id, the
            block id); not for an endpoint without one (``workplace``).
        """
        endpoint = get_endpoint(dataset)
        dataset = endpoint.name
        first_day, last_day = to_day_range(from_date, to_date)
        page_size = endpoint.max_page_size if page_size is None else page_size
        if (
            isinstance(page_size, bool)
            or not isinstance(page_size, int)
            or not 1 <= page_size <= endpoint.max_page_size
        ):
            raise FeishuConfigError(
                f"page_size={page_size!r} is out of range for {dataset}: use a whole number from 1 to "
                f"{endpoint.max_page_size}."
            )
        query = {"from_date": first_day.isoformat(), "to_date": last_day.isoformat(), "page_size": str(page_size)}
        if item_id is not None:
            if endpoint.id_field is None:
                raise FeishuConfigError(f"The {dataset} data set takes no item id filter (got {item_id!r}).")
            if not isinstance(item_id, str) or not item_id.strip():
                raise FeishuConfigError(f"{endpoint.id_field}={item_id!r} must be a non-empty string.")
            query[endpoint.id_field] = item_id.strip()
        self.settings  # noqa: B018 - read the connection now, so a bad one fails before iteration starts
        paginator = PageTokenPaginator(
            endpoint.path,
            max_pages=self.max_pages or days_page_budget(first_day, last_day, page_size),
            page_size=page_size,
            item_filter=(endpoint.id_field, query[endpoint.id_field]) if endpoint.id_field in query else None,
            query_label=f"for {first_day}..{last_day}",
        )
        return self._search(endpoint, query, paginator)

    def _search(
        self, endpoint: SearchEndpoint, query: dict[str, str], paginator: PageTokenPaginator
    ) -> Generator[dict[str, Any], None, None]:
        own_codes = () if endpoint.internal_error_code is None else (endpoint.internal_error_code,)
        request = ApiRequest("POST", endpoint.path, params=query, retry_codes=own_codes, scope=endpoint.scope)
        yield from self._follow_pages(request, paginator)
        self.log.info(
            "Read %d %s items for %s..%s in %d pages",
            paginator.items,
            endpoint.name,
            query["from_date"],
            query["to_date"],
            paginator.pages,
        )


def days_page_budget(first_day: dt.date, last_day: dt.date, page_size: int) -> int:
    """Return the page budget of a search over ``first_day..last_day``: generous, yet finite."""
    days = (last_day - first_day).days + 1
    return min(MAX_PAGES, math.ceil(days * GENEROUS_ITEMS_PER_DAY / page_size))
