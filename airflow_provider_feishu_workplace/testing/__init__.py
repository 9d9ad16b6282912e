"""A fake Feishu Open Platform for testing DAGs and hooks offline.

:class:`FeishuDouble` serves, on a loopback port, the auth endpoints (self-built and store apps)
and the three workplace access-data search endpoints, with the real platform's token rules,
error codes, paging and rate limits. Its data is generated, deterministic and available for any
date range. Faults (rate limits, 5xx, resets, expired tokens, ...) can be queued to test retries.

Faults are listed in :data:`FAULT_KINDS`. One of them, ``hostile``, answers a search with HTTP 200 and
code 0 but breaks the contract in the way its ``mode`` (one of :data:`HOSTILE_MODES`) says, to test
what a client does with a server that is wrong:

- item modes (parameter ``item``: which item of the page, default the first): ``missing_field``
  (parameter ``field``, a dotted path: ``"date"``, ``"block_id"``, ``"access_data.pv"``; default the
  counts object), ``string_pv``, ``null_access_data``, ``not_an_object``, ``negative_pv``,
  ``negative_uv``, ``uv_above_pv``;
- modes that put one more item first on the page (the page's last item moves to the next page, so
  the page stays within ``page_size``): ``out_of_range_date``, ``duplicate_item`` (the previous
  page's last item again), ``conflicting_duplicate`` (the same, with a different pv);
- paging modes: ``has_more_without_token``, ``repeat_token``, ``token_cycle`` (the tokens go A, B,
  A, B, ...), ``endless_pages`` and ``empty_pages`` (use ``times=None`` for these: every request from
  then on), ``oversized_page`` (``page_size + 1`` items), ``huge_body`` (parameter ``size`` bytes of
  padding, default 21 MiB; ``content_length=False`` leaves the length out).

For example ``double.inject("hostile", endpoint="block", skip=1, mode="string_pv")`` makes the
second block page carry ``"pv": "12"``.

Use it as a context manager and point a Feishu connection at :attr:`FeishuDouble.url`::

    from airflow_provider_feishu_workplace.testing import FeishuDouble

    with FeishuDouble() as double:
        double.inject("rate_limit", times=2)     # the next two searches answer HTTP 429
        ...  # run the hook or operator against double.url, double.app_id, double.app_secret
        assert double.count("search") == ...
        rows = double.expected_items("block", "2024-01-01", "2024-01-31")

With pytest, the ``feishu_double`` fixture (``airflow_provider_feishu_workplace.testing.pytest_plugin``)
yields a started double. From a shell, ``python -m airflow_provider_feishu_workplace.testing serve``
runs one and prints its URL and credentials as a JSON line.

This package imports only the standard library.
"""

from airflow_provider_feishu_workplace.testing._double import FeishuDouble, RecordedRequest
from airflow_provider_feishu_workplace.testing._faults import FAULT_KINDS, HOSTILE_MODES
from airflow_provider_feishu_workplace.testing._served import served_double

__all__ = ["FAULT_KINDS", "HOSTILE_MODES", "FeishuDouble", "RecordedRequest", "served_double"]
