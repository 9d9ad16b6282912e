"""The days module: one home for the days a run pulls, shared by the operators, the sensor and the trigger."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pendulum
import pytest

from airflow_provider_feishu_workplace import days
from airflow_provider_feishu_workplace.exceptions import FeishuConfigError


def test_a_run_with_neither_interval_nor_start_is_a_config_error_no_retry_can_fix():
    with pytest.raises(FeishuConfigError, match="pass date='YYYY-MM-DD'"):
        days.run_days(None, None, None, "UTC")


def test_the_days_of_a_run_are_counted_in_its_time_zone():
    start = pendulum.datetime(2026, 11, 19, 16, tz="UTC")  # 2026-11-20 00:00 in Shanghai

    assert days.run_days(start, start.add(days=1), None, "Asia/Shanghai") == (dt.date(2026, 11, 20),) * 2
    assert days.run_days(start, start.add(days=1), None, "UTC") == (dt.date(2026, 11, 19),) * 2


def test_a_task_counts_days_in_its_own_time_zone_else_its_dags_else_utc():
    dag = type("Dag", (), {"timezone": pendulum.timezone("Asia/Shanghai")})()

    assert days.run_timezone("Europe/Paris", {"dag": dag}).name == "Europe/Paris"
    assert days.run_timezone(None, {"dag": dag}).name == "Asia/Shanghai"
    assert days.run_timezone(None, {}).name == "UTC"
    with pytest.raises(FeishuConfigError, match="timezone='Mars/Base' is not a known time zone"):
        days.run_timezone("Mars/Base", {})


def test_run_days_is_still_importable_from_the_operators_module_with_a_warning():
    from airflow_provider_feishu_workplace.operators import feishu_workplace

    with pytest.warns(DeprecationWarning, match="import it from airflow_provider_feishu_workplace.days"):
        assert feishu_workplace.run_days is days.run_days


def test_the_sensor_and_trigger_take_their_days_from_the_days_module_not_the_operators():
    package = Path(days.__file__).parent
    for module in ("sensors/feishu_workplace.py", "triggers/feishu_workplace.py"):
        assert ".operators" not in (package / module).read_text(encoding="utf-8"), module


@pytest.mark.parametrize("key", ["2026-11-23", " 2026-11-23 "], ids=["day", "spaces"])
def test_a_partition_key_names_its_day(key):
    assert days.partition_day(key) == dt.date(2026, 11, 23)


@pytest.mark.parametrize(
    "key",
    ["2026-11-23T06:00:00", "cn|2026-11-23", "2026-02-30", "", None],
    ids=["cron-partition-default-format", "composite", "no-such-day", "empty", "none"],
)
def test_a_partition_key_that_names_no_day_is_refused_naming_it_and_the_format(key):
    with pytest.raises(FeishuConfigError, match=rf"partition_key={key!r} names no Feishu day: .* 'YYYY-MM-DD'"):
        days.partition_day(key)


def test_partition_keys_are_the_days_in_the_key_format_and_read_back():
    keys = days.partition_keys(days.day_list(dt.date(2026, 12, 30), dt.date(2027, 1, 2)))

    assert keys == ["2026-12-30", "2026-12-31", "2027-01-01", "2027-01-02"]
    assert [days.partition_day(key).strftime(days.PARTITION_KEY_FORMAT) for key in keys] == keys


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({"dag_run": type("Run", (), {"partition_key": "2026-11-23"})()}, (dt.date(2026, 11, 23),) * 2),
        (
            {
                "dag_run": type("Run", (), {"partition_key": None, "start_date": None})(),
                "data_interval_start": pendulum.datetime(2026, 11, 20, tz="UTC"),
                "data_interval_end": pendulum.datetime(2026, 11, 21, tz="UTC"),
            },
            (dt.date(2026, 11, 20),) * 2,
        ),
    ],
    ids=["partitioned-run", "unpartitioned-run"],
)
def test_a_partitioned_run_pulls_its_keys_day_and_any_other_run_its_data_interval(context, expected):
    from airflow_provider_feishu_workplace._compat import ASSET_PARTITIONS

    if context["dag_run"].partition_key and not ASSET_PARTITIONS:
        pytest.skip("runs have no partition key before Airflow 3.2")

    assert days.context_days(context, pendulum.timezone("UTC")) == expected
