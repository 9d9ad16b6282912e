"""A store app's tenant-day partition key, ``<tenant_key>|YYYY-MM-DD``: written and read in one place (days)."""

from __future__ import annotations

import datetime as dt

import pytest

from airflow_provider_feishu_workplace.days import partition_day, partition_keys, tenant_partition
from airflow_provider_feishu_workplace.exceptions import FeishuConfigError


def test_a_tenants_days_are_written_as_tenant_bar_day_keys_and_read_back():
    keys = partition_keys(["2026-11-23", "2026-11-24"], tenant_key="tenant_a1")

    assert keys == ["tenant_a1|2026-11-23", "tenant_a1|2026-11-24"]
    assert [tenant_partition(key) for key in keys] == [
        ("tenant_a1", dt.date(2026, 11, 23)),
        ("tenant_a1", dt.date(2026, 11, 24)),
    ]
    assert partition_keys(["2026-11-23"]) == ["2026-11-23"]


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("2026-11-23", id="a-day-without-tenant"),
        pytest.param("tenant_a1|2026-11-31", id="no-such-day"),
        pytest.param("tenant_a1|2026-11-23T06:00:00", id="a-time-not-a-day"),
        pytest.param("|2026-11-23", id="empty-tenant"),
        pytest.param("../x|2026-11-23", id="tenant-with-a-path"),
        pytest.param("a|b|2026-11-23", id="three-parts"),
        pytest.param(None, id="no-key"),
    ],
)
def test_a_key_that_is_not_a_tenants_day_is_refused_naming_it(key):
    with pytest.raises(FeishuConfigError, match="names no tenant's day") as refused:
        tenant_partition(key)

    assert f"partition_key={key!r}" in str(refused.value)


def test_a_tenant_day_key_is_not_a_day_key():
    with pytest.raises(FeishuConfigError, match=r"partition_key='tenant_a1\|2026-11-23' names no Feishu day"):
        partition_day("tenant_a1|2026-11-23")
