"""Whether Feishu has published a day's access data: one cheap request, shared by the sensor and its trigger."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook


def is_published(hook: FeishuWorkplaceHook, dataset: str, day: dt.date) -> bool:
    """Return whether ``dataset`` has an item for ``day``: one search request for one item of that day.

    Goes through the hook's one request path (token, pacing, retries of transient faults, answer checks);
    an error that outlasts the hook's retries, or that no retry can fix, is raised.

    :param hook: the hook to ask with.
    :param dataset: the data set to look at (a registered name).
    :param day: the day.
    """
    items = hook.iter_access_data(dataset, day, day, page_size=1)
    try:
        first: Any = next(iter(items), None)
    finally:
        items.close()  # stop after the first page: one request per check
    return isinstance(first, dict) and first.get("date") == day.isoformat()
