"""pytest fixture ``feishu_double``: a started :class:`FeishuDouble`, stopped after the test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_feishu_workplace.testing import FeishuDouble


@pytest.fixture
def feishu_double() -> Iterator[FeishuDouble]:
    """A running Feishu double with default settings, fresh for each test."""
    with FeishuDouble() as double:
        yield double
