"""A fake Feishu Open Platform for testing DAGs and hooks offline.

:class:`FeishuDouble` serves, on a loopback port, the auth endpoints (self-built and store apps)
and the three workplace access-data search endpoints, with the real platform's token rules,
error codes, paging and rate limits. Its data is generated, deterministic and available for any
date range. Faults (rate limits, 5xx, resets, expired tokens, ...) can be queued to test retries.

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

from airflow_provider_feishu_workplace.testing.double import FeishuDouble, RecordedRequest
from airflow_provider_feishu_workplace.testing.faults import FAULT_KINDS

__all__ = ["FAULT_KINDS", "FeishuDouble", "RecordedRequest"]
