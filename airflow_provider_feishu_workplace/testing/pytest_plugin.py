"""pytest fixtures ``feishu_double`` and ``feishu_connection``, registered by the ``pytest11`` entry point.

Installing the provider makes them available in every test session; no conftest is needed.
Override ``feishu_double`` in a conftest to change the double's settings: ``feishu_connection``
then points at that double.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_feishu_workplace.testing import FeishuDouble
from airflow_provider_feishu_workplace.testing._connection import env_var

#: The connection id the fixture sets: the provider's default, so DAGs need no change.
DEFAULT_CONN_ID = "feishu_default"


@pytest.fixture
def feishu_double() -> Iterator[FeishuDouble]:
    """A running Feishu double with default settings, fresh for each test."""
    with FeishuDouble() as double:
        yield double


@pytest.fixture
def feishu_connection(feishu_double: FeishuDouble, monkeypatch: pytest.MonkeyPatch) -> str:
    """Airflow connection ``feishu_default`` pointing at ``feishu_double``, for the test; returns its id.

    The connection is set as ``AIRFLOW_CONN_FEISHU_DEFAULT`` through ``monkeypatch``, so it is
    restored after the test in the right order with the test's own ``monkeypatch.setenv`` calls.
    Use ``feishu_double`` in the same test to queue faults and inspect calls.
    """
    monkeypatch.setenv(env_var(DEFAULT_CONN_ID), feishu_double.connection())
    return DEFAULT_CONN_ID
