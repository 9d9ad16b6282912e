"""The load DAG reconciles: every lake day missing or stale in the warehouse is loaded, whatever events came."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from types import SimpleNamespace

import pendulum

from tests.airflow_versions import AIRFLOW_V_3_0_PLUS, run_dag_test, triggering_events_kwargs
from tests.conftest import task_states
from tests.dags.test_example_dags import TABLES, expected_rows
from tests.s3_fixtures import s3_bucket, s3_server  # noqa: F401 - fixtures

DAYS = ["2026-10-01", "2026-10-02", "2026-10-03"]


def sweep(examples) -> dict[str, str]:
    """A load run without a day and without events: what the time-based safety net runs."""
    return task_states(run_dag_test(examples.load, run_conf={}))


def state_rows(examples) -> list[tuple]:
    with closing(sqlite3.connect(examples.lake_dir.parent / "warehouse.db")) as db:
        return db.execute("SELECT table_name, day, row_count FROM feishu_load_state ORDER BY 1, 2").fetchall()


def load_block(examples, events=()) -> dict:
    """Run the load_block task's code as a run triggered by ``events`` would."""
    task = examples.load.get_task("load_block")
    return task.python_callable("block", params={"day": None}, **triggering_events_kwargs(list(events)))


def test_days_whose_events_never_came_are_loaded_by_the_next_run(examples):
    for day in DAYS:
        assert set(examples.run_extract(day).values()) == {"success"}

    assert set(sweep(examples).values()) == {"success"}  # as if Airflow had dropped every event

    for table in TABLES:
        expected = sorted(row for day in DAYS for row in expected_rows(examples.double, day)[table])
        assert examples.rows(table) == expected
    assert len(state_rows(examples)) == 3 * len(DAYS)


def test_a_day_already_loaded_is_not_loaded_again(examples):
    for day in DAYS[:2]:
        examples.run_extract(day)
    first = load_block(examples)

    second = load_block(examples)

    assert first == {"loaded": {DAYS[0]: 5, DAYS[1]: 5}, "up_to_date": 0}
    assert second == {"loaded": {}, "up_to_date": 2}


def test_a_day_pulled_again_with_new_data_is_replaced_and_only_that_day(examples):
    for day in DAYS[:2]:
        examples.run_extract(day)
    load_block(examples)
    before = examples.rows("feishu_block_access")
    changed = [{"date": DAYS[1], "block_id": "blk_new", "access_data": {"pv": 9, "uv": 4}}]
    examples.double.set_items("block", DAYS[1], changed)

    examples.run_extract(DAYS[1])
    loaded = load_block(examples)

    assert loaded == {"loaded": {DAYS[1]: 1}, "up_to_date": 1}
    assert examples.rows("feishu_block_access") == [r for r in before if r[0] == DAYS[0]] + [(DAYS[1], "blk_new", 9, 4)]


def test_a_file_that_does_not_fit_fails_the_task_but_the_other_days_load(examples):
    for day in DAYS[:2]:
        examples.run_extract(day)
    broken = examples.lake_dir / f"block_access/dt={DAYS[0]}/part.jsonl"
    broken.write_text(broken.read_text() + '{"date": "2026-10-01", "block_id": "broken"}\n')

    states = sweep(examples)

    assert states["load_block"] == "failed"
    assert states["load_workplace"] == "success"
    assert [row[0] for row in examples.rows("feishu_block_access")] == [DAYS[1]] * 5


def test_asset_events_naming_a_file_outside_the_lakes_layout_load_its_days(examples, tmp_path):
    items = [
        item
        for day in DAYS[:2]
        for item in examples.double.expected_items("block", day, day)
        if item["block_id"] == examples.double.block_ids[0]
    ]
    range_file = examples.lake_dir / "ranges" / "blocks.jsonl"  # outside the layout, inside the lake
    range_file.parent.mkdir(parents=True)
    range_file.write_text("".join(json.dumps(item) + "\n" for item in items))
    path = f"file://{range_file}"
    extra = {"dataset": "block", "from_date": DAYS[0], "to_date": DAYS[1], "items": 2, "path": path}
    extra["days"] = {DAYS[0]: path, DAYS[1]: path}

    loaded = load_block(examples, [event("block", extra)])

    assert loaded == {"loaded": {DAYS[0]: 1, DAYS[1]: 1}, "up_to_date": 0}
    assert [row[:2] for row in examples.rows("feishu_block_access")] == [
        (DAYS[0], examples.double.block_ids[0]),
        (DAYS[1], examples.double.block_ids[0]),
    ]


def test_a_manual_run_for_a_day_missing_from_the_lake_fails_naming_it(examples, capsys):
    states = examples.run_load("2026-10-09")

    assert set(states.values()) == {"failed"}
    assert "day='2026-10-09'" in capsys.readouterr().out


def event(dataset: str, extra: dict):
    """An asset event as the metadata database holds it (the fields triggering_events_kwargs reads)."""
    from feishu_workplace_config import ASSETS

    asset = ASSETS[dataset]
    target = SimpleNamespace(name=getattr(asset, "name", asset.uri), uri=asset.uri, extra={})
    fields = {"asset": target} if AIRFLOW_V_3_0_PLUS else {"dataset": target}
    return SimpleNamespace(
        **fields,
        extra=extra,
        source_task_id="block",
        source_dag_id="feishu_workplace_backfill",
        source_run_id="manual",
        source_map_index=-1,
        timestamp=pendulum.now("UTC"),
    )


def test_on_s3_the_lake_is_listed_in_one_go_and_a_rewritten_object_is_stale(s3_bucket, examples):
    from airflow.providers.common.compat.sdk import ObjectStoragePath
    from feishu_workplace_tables import lake_files

    from tests.s3_fixtures import BUCKET

    for day in DAYS[:2]:
        s3_bucket.put_object(Bucket=BUCKET, Key=f"feishu/block_access/dt={day}/part.jsonl", Body=b'{"a": 1}\n')
    s3_bucket.put_object(Bucket=BUCKET, Key="feishu/block_access/dt=2026-10-01/.part.jsonl.tmp-1", Body=b"x")
    lake = ObjectStoragePath(f"s3://{BUCKET}/feishu", conn_id="lake_s3")

    before = lake_files(lake, "block")
    s3_bucket.put_object(Bucket=BUCKET, Key=f"feishu/block_access/dt={DAYS[1]}/part.jsonl", Body=b'{"a": 22}\n')
    lake.fs.invalidate_cache()
    after = lake_files(lake, "block")

    assert sorted(before) == DAYS[:2]
    assert str(before[DAYS[0]].path).endswith(f"feishu/block_access/dt={DAYS[0]}/part.jsonl")
    assert after[DAYS[0]].fingerprint == before[DAYS[0]].fingerprint
    assert after[DAYS[1]].fingerprint != before[DAYS[1]].fingerprint


def test_a_day_in_both_formats_is_read_from_the_file_written_last(examples, tmp_path):
    import os

    from airflow.providers.common.compat.sdk import ObjectStoragePath
    from feishu_workplace_tables import lake_files

    folder = tmp_path / "lake2" / "block_access" / f"dt={DAYS[0]}"
    folder.mkdir(parents=True)
    (folder / "part.jsonl").write_text("{}\n")
    (folder / "part.parquet").write_bytes(b"PAR1")
    os.utime(folder / "part.jsonl", (1_000_000_000, 1_000_000_000))
    lake = ObjectStoragePath(f"file://{tmp_path / 'lake2'}")

    newer_parquet = lake_files(lake, "block")[DAYS[0]].path.name
    os.utime(folder / "part.jsonl", (4_000_000_000, 4_000_000_000))
    newer_jsonl = lake_files(lake, "block")[DAYS[0]].path.name

    assert (newer_parquet, newer_jsonl) == ("part.parquet", "part.jsonl")
