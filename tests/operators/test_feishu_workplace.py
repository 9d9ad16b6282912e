"""The access operators run through real Airflow: DAG files parsed by a DagBag, runs by ``dag.test()``."""

from __future__ import annotations

import datetime as dt
import functools
import json

import pendulum
import pytest

from tests.airflow_versions import OUTLET_CLASS_NAME
from tests.dag_runs import dag_source

SHANGHAI = "Asia/Shanghai"
NOV_20 = pendulum.datetime(2026, 11, 20, tz="UTC")
BLOCK_OPERATOR = "FeishuWorkplaceBlockAccessOperator"


def requested_days(double) -> list[tuple[str, str]]:
    return [
        (r.query["from_date"], r.query["to_date"])
        for r in double.requests
        if r.endpoint in ("workplace", "custom_workplace", "block")
    ]


class TestWhichDay:
    def test_daily_schedule_pulls_yesterday(self, run_dag, feishu_conn):
        run = run_dag("daily_utc", NOV_20)

        assert run.states == {"pull": "success", "receive": "success"}
        assert run.received == feishu_conn.expected_items("workplace", "2026-11-19", "2026-11-19")
        assert requested_days(feishu_conn) == [("2026-11-19", "2026-11-19")]

    def test_interval_timetable_pulls_the_interval_day(self, run_dag, feishu_conn):
        run = run_dag(
            "interval_utc",
            NOV_20,  # a manual run then covers 11-19 00:00 .. 11-20 00:00
            schedule='CronDataIntervalTimetable("0 0 * * *", timezone="UTC")',
        )

        assert run.received == feishu_conn.expected_items("workplace", "2026-11-19", "2026-11-19")
        assert requested_days(feishu_conn) == [("2026-11-19", "2026-11-19")]

    def test_shanghai_dag_pulls_the_shanghai_calendar_day(self, run_dag, feishu_conn):
        # The interval starts 11-19 00:00 in Shanghai, 11-18 16:00 UTC: counted in UTC the run would pull 11-18.
        run_dag(
            "interval_shanghai",
            pendulum.datetime(2026, 11, 20, tz=SHANGHAI),
            schedule=f'CronDataIntervalTimetable("0 0 * * *", timezone="{SHANGHAI}")',
            tz=SHANGHAI,
        )

        assert requested_days(feishu_conn) == [("2026-11-19", "2026-11-19")]

    def test_operator_timezone_overrides_the_dags(self, run_dag, feishu_conn):
        run_dag(
            "daily_utc_pull_shanghai",
            pendulum.datetime(2026, 11, 20, 18, 0, tz="UTC"),  # 11-21 02:00 in Shanghai
            schedule='"0 18 * * *"',
            operator_args=f"timezone={SHANGHAI!r}",
        )

        assert requested_days(feishu_conn) == [("2026-11-20", "2026-11-20")]

    def test_weekly_interval_pulls_every_day_it_covers(self, run_dag, feishu_conn):
        run_dag(
            "weekly",
            pendulum.datetime(2026, 11, 16, tz="UTC"),  # a Monday: the interval is the week before
            schedule='CronDataIntervalTimetable("0 0 * * 1", timezone="UTC")',
        )

        assert requested_days(feishu_conn) == [("2026-11-09", "2026-11-15")]

    def test_templated_date_pulls_exactly_that_day(self, run_dag, feishu_conn):
        run = run_dag("templated_date", NOV_20, operator_args='date="{{ macros.ds_add(ds, -3) }}"')

        assert requested_days(feishu_conn) == [("2026-11-17", "2026-11-17")]
        assert run.received == feishu_conn.expected_items("workplace", "2026-11-17", "2026-11-17")

    def test_a_day_that_has_not_ended_is_refused_before_any_request(self, run_dag, feishu_conn):
        today = pendulum.now("UTC").date().isoformat()

        run = run_dag("today", NOV_20, operator_args=f"date={today!r}, retries=3")

        assert run.states["pull"] == "failed"  # not up_for_retry: waiting will not end the day
        assert f"{today} has not ended yet in UTC" in run.log
        assert "allow_partial_day=True" in run.log
        assert feishu_conn.requests == []

    def test_partial_day_is_pulled_when_asked_for(self, run_dag, feishu_conn):
        today = pendulum.now("UTC").date().isoformat()

        run = run_dag(
            "today_partial",
            NOV_20,
            # The double, like Feishu, may have nothing yet for a day that has not ended in its calendar.
            operator_args=f"date={today!r}, allow_partial_day=True, on_empty_day='allow'",
        )

        assert run.states["pull"] == "success"
        assert requested_days(feishu_conn) == [(today, today)]

    @pytest.mark.parametrize(
        "operator_args, bad_value",
        [
            pytest.param('date="2026-11-31"', "2026-11-31", id="impossible-date"),
            pytest.param('date="{{ ds_nodash }}"', "20261120", id="template-renders-garbage"),
        ],
    )
    def test_bad_rendered_date_fails_before_any_request(self, run_dag, feishu_conn, operator_args, bad_value):
        run = run_dag("bad_date", NOV_20, operator_args=operator_args)

        assert run.states["pull"] == "failed"
        assert f"date='{bad_value}' is not a valid date: use 'YYYY-MM-DD'" in run.log
        assert feishu_conn.requests == []


class TestEmptyDays:
    @pytest.mark.parametrize(
        "policy, pull_state, received",
        [
            pytest.param("fail", "failed", None, id="fail"),
            pytest.param("skip", "skipped", None, id="skip"),
            pytest.param("allow", "success", [], id="allow"),
        ],
    )
    def test_empty_day_policy(self, run_dag, feishu_conn, policy, pull_state, received):
        feishu_conn.unavailable_dates.add(dt.date(2026, 11, 19))

        run = run_dag(f"empty_{policy}", NOV_20, operator_args=f"on_empty_day={policy!r}")

        assert run.states["pull"] == pull_state
        assert run.received == received
        assert "no workplace items for 2026-11-19" in run.log.replace(
            "No workplace items for ['2026-11-19']", "no workplace items for 2026-11-19"
        )

    def test_unknown_policy_is_refused_at_parse_time(self, dag_folder, tmp_path):
        (dag_folder.path / "bad.py").write_text(
            dag_source("bad", received_file=tmp_path / "x", operator_args="on_empty_day='retry'")
        )
        bag = dag_folder.parse()

        assert "on_empty_day='retry'" in "".join(bag.import_errors.values())


class TestObjectStorage:
    def test_file_output_writes_json_lines_and_returns_the_path(self, run_dag, feishu_conn, tmp_path):
        target = tmp_path / "lake" / "custom" / "dt=2026-11-19" / "part.jsonl"

        run = run_dag(
            "file_output",
            NOV_20,
            operator="FeishuCustomWorkplaceAccessOperator",
            operator_args=f'output_path="file://{tmp_path}/lake/custom/dt={{{{ macros.ds_add(ds, -1) }}}}/part.jsonl"',
        )

        assert run.received == f"file://{target}"
        lines = target.read_text(encoding="utf-8").splitlines()
        assert [json.loads(line) for line in lines] == feishu_conn.expected_items(
            "custom_workplace", "2026-11-19", "2026-11-19"
        )
        assert "工作台" in target.read_text(encoding="utf-8")  # Chinese names as text, not \u escapes
        assert "\\u" not in target.read_text(encoding="utf-8")

    def test_rerun_rewrites_the_same_file_with_the_same_content(self, run_dag, feishu_conn, tmp_path):
        args = f'output_path="file://{tmp_path}/lake/block/{{{{ ds }}}}.jsonl"'
        pull_block = functools.partial(run_dag, "rerun", NOV_20, operator=BLOCK_OPERATOR, operator_args=args)
        pull_block()
        first = (tmp_path / "lake/block/2026-11-20.jsonl").read_bytes()

        pull_block()

        assert sorted(p.name for p in (tmp_path / "lake/block").iterdir()) == ["2026-11-20.jsonl"]
        assert (tmp_path / "lake/block/2026-11-20.jsonl").read_bytes() == first

    def test_failed_fetch_leaves_the_previous_file_intact(self, run_dag, feishu_conn, tmp_path):
        args = f'output_path="file://{tmp_path}/lake/block.jsonl", page_size=2'
        pull_block = functools.partial(run_dag, "failing", NOV_20, operator=BLOCK_OPERATOR, operator_args=args)
        pull_block()
        before = (tmp_path / "lake/block.jsonl").read_bytes()
        feishu_conn.inject("quota", endpoint="block", skip=1)  # fails on the second page, after a page was written

        run = pull_block()

        assert run.states["pull"] == "failed"
        assert "monthly API call quota" in run.log
        assert (tmp_path / "lake/block.jsonl").read_bytes() == before
        assert sorted(p.name for p in (tmp_path / "lake").iterdir()) == ["block.jsonl"]

    def test_refused_empty_day_does_not_replace_the_file(self, run_dag, feishu_conn, tmp_path):
        args = f'output_path="file://{tmp_path}/lake/w.jsonl"'
        run_dag("empty_keeps", NOV_20, operator_args=args)
        before = (tmp_path / "lake/w.jsonl").read_bytes()
        feishu_conn.unavailable_dates.add(dt.date(2026, 11, 19))

        run = run_dag("empty_keeps", NOV_20, operator_args=args)

        assert run.states["pull"] == "failed"
        assert (tmp_path / "lake/w.jsonl").read_bytes() == before

    def test_unknown_storage_scheme_fails_before_any_request(self, run_dag, feishu_conn):
        run = run_dag("bad_scheme", NOV_20, operator_args='output_path="nosuchfs://bucket/x.jsonl"')

        assert run.states["pull"] == "failed"
        assert "output_path='nosuchfs://bucket/x.jsonl' cannot be opened" in run.log
        assert feishu_conn.requests == []


class TestNonRetryableFailures:
    @pytest.mark.parametrize(
        "kind, message",
        [
            pytest.param("missing_scope", "workplace:workplace_using_data:read", id="missing-scope"),
            pytest.param("quota", "monthly API call quota", id="quota"),
            pytest.param("app_not_installed", "not installed", id="not-installed"),
        ],
    )
    def test_an_error_retries_cannot_fix_fails_the_task_without_retrying(self, run_dag, feishu_conn, kind, message):
        feishu_conn.inject(kind, endpoint="workplace", times=None)

        run = run_dag(f"no_retry_{kind}", NOV_20, operator_args="retries=3, retry_delay=pendulum.duration(seconds=0)")

        assert run.states["pull"] == "failed"
        assert message in run.log
        assert feishu_conn.count("workplace") == 1  # one try, not four

    def test_a_wrong_secret_fails_the_task_without_retrying(self, run_dag, feishu_conn, monkeypatch):
        from tests.conftest import connection_json

        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection_json(feishu_conn, password="wrong"))

        run = run_dag("no_retry_secret", NOV_20, operator_args="retries=3, retry_delay=pendulum.duration(seconds=0)")

        assert run.states["pull"] == "failed"
        assert "App Secret" in run.log
        assert feishu_conn.count("token") == 1


class TestSiblings:
    def test_custom_workplace_operator_filters_one_workplace(self, run_dag, feishu_conn):
        wanted = feishu_conn.expected_items("custom_workplace", "2026-11-19", "2026-11-19")[1]["custom_workplace_id"]

        run = run_dag(
            "custom_one",
            NOV_20,
            operator="FeishuCustomWorkplaceAccessOperator",
            operator_args=f"custom_workplace_id={wanted!r}",
        )

        assert [item["custom_workplace_id"] for item in run.received] == [wanted]

    def test_block_operator_returns_every_block_of_the_day(self, run_dag, feishu_conn):
        run = run_dag("blocks", NOV_20, operator=BLOCK_OPERATOR)

        assert run.received == feishu_conn.expected_items("block", "2026-11-19", "2026-11-19")

    def test_xcom_cap_points_to_output_path(self, run_dag, feishu_conn):
        run = run_dag("capped", NOV_20, operator=BLOCK_OPERATOR, operator_args="max_xcom_records=3")

        assert run.states["pull"] == "failed"
        assert "More than max_xcom_records=3 items" in run.log and "Set output_path" in run.log
        assert run.received is None

    @pytest.mark.parametrize(
        ("items", "operator_args", "bound"),
        [
            # 50 items of about 25 KB each: far under max_xcom_records, over the default 1 MiB.
            pytest.param(50, "", "max_xcom_bytes=1048576", id="long-names-over-the-default"),
            pytest.param(3, "max_xcom_bytes=60000", "max_xcom_bytes=60000", id="long-names-over-a-set-bound"),
        ],
    )
    def test_xcom_over_its_byte_bound_fails_at_once_pointing_to_output_path(
        self, run_dag, feishu_conn, items, operator_args, bound
    ):
        day = "2026-11-19"
        feishu_conn.set_items("custom_workplace", day, [big_custom_workplace(day, n) for n in range(items)])

        run = run_dag(
            "xcom_bytes",
            NOV_20,
            operator="FeishuCustomWorkplaceAccessOperator",
            operator_args=f"retries=3, retry_delay=0, {operator_args}",
        )

        assert run.states["pull"] == "failed"  # not up_for_retry: a rerun gets the same items
        assert f"more than {bound} bytes as JSON" in run.log
        assert "Set output_path" in run.log
        assert run.received is None

    def test_xcom_within_its_byte_bound_returns_the_items(self, run_dag, feishu_conn):
        day = "2026-11-19"
        items = [big_custom_workplace(day, n) for n in range(2)]
        feishu_conn.set_items("custom_workplace", day, items)

        run = run_dag(
            "xcom_bytes_fit",
            NOV_20,
            operator="FeishuCustomWorkplaceAccessOperator",
            operator_args="max_xcom_bytes=60000",
        )

        assert run.states["pull"] == "success"
        assert run.received == items


class TestAssets:
    def test_each_operator_declares_its_data_sets_asset(self):
        from airflow_provider_feishu_workplace.operators.feishu_workplace import (
            FeishuWorkplaceBlockAccessOperator,
            feishu_access_asset,
        )

        operator = FeishuWorkplaceBlockAccessOperator(task_id="t", feishu_conn_id="tenant_a")

        assert operator.outlets == [feishu_access_asset("block", "tenant_a")]
        assert operator.outlets[0].uri == "feishu-workplace://tenant_a/block"
        assert type(operator.outlets[0]).__name__ == OUTLET_CLASS_NAME  # Asset on Airflow 3, Dataset on 2

    def test_run_records_an_asset_event_with_the_days_and_path(self, run_dag, feishu_conn, tmp_path):
        from tests.airflow_versions import asset_events

        run_dag("asset_event", NOV_20, operator_args=f'output_path="file://{tmp_path}/w.jsonl"')

        events = asset_events("asset_event")
        assert [e.extra for e in events] == [
            {
                "dataset": "workplace",
                "from_date": "2026-11-19",
                "to_date": "2026-11-19",
                "items": 1,
                "path": f"file://{tmp_path}/w.jsonl",
                "days": {"2026-11-19": f"file://{tmp_path}/w.jsonl"},
            }
        ]


def big_custom_workplace(day: str, number: int) -> dict:
    """A custom workplace item whose name entries are long: about 25 KB as JSON."""
    return {
        "custom_workplace_id": f"tpl_{number:04d}",
        "date": day,
        "access_data": {"pv": 2, "uv": 1},
        "custom_workplace_name": [
            {"language": "zh_cn", "name": "工" * 4000},
            {"language": "en_us", "name": "Workplace " * 1300},
        ],
    }
