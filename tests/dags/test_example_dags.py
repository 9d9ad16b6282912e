"""The example DAGs in dags/: parsing, and extract + load end to end through ``dag.test()``."""

from __future__ import annotations

from contextlib import closing

import pytest

from tests.airflow_versions import (
    RUNS_WITHOUT_LOGICAL_DATE,
    asset_events,
    asset_triggered_dag_ids,
    clear_asset_queue,
    run_dag_test,
    scheduled_on,
    set_paused,
    skip_unless,
    triggering_events_kwargs,
)
from tests.dag_runs import EXAMPLE_DAY as DAY

TABLES = ("feishu_workplace_access", "feishu_custom_workplace_access", "feishu_block_access")


def expected_rows(double, day: str) -> dict[str, list[tuple]]:
    workplace = double.expected_items("workplace", day, day)
    custom = double.expected_items("custom_workplace", day, day)
    blocks = double.expected_items("block", day, day)

    def name(item, language):
        return next(n["name"] for n in item["custom_workplace_name"] if n["language"] == language)

    return {
        "feishu_workplace_access": [
            (
                i["date"],
                i["all_workplace"]["pv"],
                i["all_workplace"]["uv"],
                i["default_workplace"]["pv"],
                i["default_workplace"]["uv"],
            )
            for i in workplace
        ],
        "feishu_custom_workplace_access": sorted(
            (
                i["date"],
                i["custom_workplace_id"],
                i["access_data"]["pv"],
                i["access_data"]["uv"],
                name(i, "zh_cn"),
                name(i, "en_us"),
            )
            for i in custom
        ),
        "feishu_block_access": sorted(
            (i["date"], i["block_id"], i["access_data"]["pv"], i["access_data"]["uv"]) for i in blocks
        ),
    }


@pytest.fixture
def alert_chat(monkeypatch):
    """FEISHU_WORKPLACE_ALERT_CHAT_ID set to the chat the double's bot is in (before the DAGs are parsed)."""
    monkeypatch.setenv("FEISHU_WORKPLACE_ALERT_CHAT_ID", "oc_double_alerts")
    return "oc_double_alerts"


class TestParsing:
    def test_every_dag_file_imports_without_errors(self, dag_folder):
        dag_folder.add_example_dags()

        bag = dag_folder.parse()

        assert bag.import_errors == {}
        assert set(bag.dag_ids) == {
            "feishu_workplace_extract",
            "feishu_workplace_load",
            "feishu_workplace_backfill",
            "feishu_workplace_tenants",
        }
        for dag in bag.dags.values():
            assert dag.doc_md and "feishu" in dag.tags
            assert all(task.retries >= 1 for task in dag.tasks)

    def test_load_dag_is_scheduled_on_the_extracts_assets(self, examples):
        produced = {outlet.uri for task in examples.extract.tasks for outlet in task.outlets}

        consumed = scheduled_on(examples.load)

        assert len(produced) == 3
        assert {asset.uri for asset in consumed} == produced

    def test_the_extracts_asset_events_make_the_scheduler_start_the_load_dag(self, examples):
        # Partitioned, the load starts per day: tests/dags/test_partitions.py.
        partitioned = type(examples.load.timetable).__name__ == "PartitionedAssetTimetable"
        skip_unless(not partitioned, "the example load DAG is partitioned (one run per day)")
        clear_asset_queue("feishu_workplace_load")  # what earlier tests' extracts queued in this process
        set_paused("feishu_workplace_load", False)
        try:
            waiting_before = "feishu_workplace_load" in asset_triggered_dag_ids()

            assert set(examples.run_extract(DAY).values()) == {"success"}

            assert not waiting_before
            assert "feishu_workplace_load" in asset_triggered_dag_ids()
        finally:
            set_paused("feishu_workplace_load", True)

    def test_without_an_alert_chat_no_task_has_a_failure_callback(self, examples):
        assert [task.task_id for task in examples.extract.tasks if task.on_failure_callback] == []

    def test_with_an_alert_chat_each_failed_extract_task_tells_the_chat(self, alert_chat, examples):
        examples.double.inject("quota", endpoint="custom_workplace", times=None)

        states = examples.run_extract(DAY)

        failed = sorted(task for task, state in states.items() if state == "failed")
        assert failed == ["custom_workplace"]
        (message,) = examples.double.sent_messages
        assert (message.receive_id, message.msg_type) == (alert_chat, "text")
        assert message.content["text"].startswith(
            "Feishu Workplace: task custom_workplace of feishu_workplace_extract failed (run "
        )

    def test_extract_dag_writes_one_file_per_data_set_and_day(self, examples):
        states = examples.run_extract(DAY)

        assert set(states.values()) == {"success"}
        files = sorted(p.relative_to(examples.lake_dir).as_posix() for p in examples.lake_dir.rglob("*") if p.is_file())
        assert files == [
            f"block_access/dt={DAY}/part.jsonl",
            f"custom_workplace_access/dt={DAY}/part.jsonl",
            f"workplace_access/dt={DAY}/part.jsonl",
        ]

    def test_a_manual_run_without_a_data_interval_pulls_the_day_before_it_started(self, examples):
        import pendulum

        skip_unless(RUNS_WITHOUT_LOGICAL_DATE, "every run has a logical date and a data interval")
        yesterday = (pendulum.now("Asia/Shanghai").date() - pendulum.duration(days=1)).isoformat()

        dag_run = run_dag_test(examples.extract, logical_date=None)

        assert {str(ti.state) for ti in dag_run.get_task_instances()} == {"success"}
        assert (examples.lake_dir / f"block_access/dt={yesterday}/part.jsonl").exists()
        assert [r.query["from_date"] for r in examples.double.requests if r.endpoint == "block"] == [yesterday]


class TestSqliteLoad:
    def test_extract_then_load_puts_the_doubles_rows_in_typed_tables(self, examples):
        assert set(examples.run_extract(DAY).values()) == {"success"}
        assert set(examples.run_load(DAY).values()) == {"success"}

        expected = expected_rows(examples.double, DAY)
        for table in TABLES:
            assert examples.rows(table) == expected[table]

    def test_rerunning_a_day_leaves_the_same_rows(self, examples):
        examples.run_extract(DAY)
        examples.run_load(DAY)
        examples.run_extract("2026-10-02")
        examples.run_load("2026-10-02")
        before = {table: examples.rows(table) for table in TABLES}

        examples.run_extract(DAY)
        examples.run_load(DAY)

        assert {table: examples.rows(table) for table in TABLES} == before
        assert len(before["feishu_block_access"]) == 10

    def test_failed_extract_leaves_the_files_and_the_table_as_they_were(self, examples):
        examples.run_extract(DAY)
        examples.run_load(DAY)
        before = {table: examples.rows(table) for table in TABLES}
        examples.double.inject("quota", endpoint="search", times=10)

        states = examples.run_extract(DAY)
        examples.run_load(DAY)

        assert "failed" in states.values()
        assert {table: examples.rows(table) for table in TABLES} == before

    def test_failed_load_rolls_back_and_keeps_the_previous_rows(self, examples):
        examples.run_extract(DAY)
        examples.run_load(DAY)
        before = examples.rows("feishu_block_access")
        block_file = examples.lake_dir / f"block_access/dt={DAY}/part.jsonl"
        block_file.write_text(block_file.read_text() + '{"date": "2026-10-01", "block_id": "broken"}\n')

        states = examples.run_load(DAY)

        assert states["load_block"] == "failed"
        assert examples.rows("feishu_block_access") == before

    def test_a_run_triggered_by_the_extracts_asset_events_loads_the_new_day(self, examples):
        examples.run_extract(DAY)
        events = asset_events("feishu_workplace_extract")
        mine = [e for e in events if e.extra["path"].startswith(f"file://{examples.lake_dir}/")]  # not earlier tests'
        load_block = examples.load.get_task("load_block")

        loaded = load_block.python_callable("block", params={"day": None}, **triggering_events_kwargs(mine))

        assert loaded == {"loaded": {DAY: 5}, "up_to_date": 0}
        assert examples.rows("feishu_block_access") == expected_rows(examples.double, DAY)["feishu_block_access"]


class TestPostgresLoad:
    def test_the_same_load_runs_against_postgresql(self, examples, postgres_uri, monkeypatch):
        import psycopg2

        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_WAREHOUSE", postgres_uri)
        examples.run_extract(DAY)

        assert set(examples.run_load(DAY).values()) == {"success"}
        assert set(examples.run_load(DAY).values()) == {"success"}  # a rerun replaces the day

        expected = expected_rows(examples.double, DAY)
        with closing(psycopg2.connect(postgres_uri)) as db, db.cursor() as cursor:
            for table in TABLES:
                cursor.execute(f"SELECT * FROM {table} ORDER BY 1, 2")
                rows = [(row[0].isoformat(), *row[1:]) for row in cursor.fetchall()]
                assert rows == expected[table]
            cursor.execute(
                "SELECT data_type FROM information_schema.columns"
                " WHERE table_name = 'feishu_block_access' ORDER BY ordinal_position"
            )
            assert [row[0] for row in cursor.fetchall()] == ["date", "character varying", "bigint", "bigint"]
            for table in TABLES:
                cursor.execute(f"DROP TABLE {table}")
            db.commit()
