"""The load DAG trusts nothing it reads: not a lake file's rows, not an asset event's path.

Each lake file's rows are checked against their day and the table's types before the day's transaction;
a day that does not fit fails alone (its warehouse rows stay as they were), the other days still load,
and the task fails at the end naming the bad days. Only files under the configured lake are read, whatever
an asset event names. On SQLite (with its tables' CHECK constraints) and on PostgreSQL, through the load
DAG's own task code and through dag.test() runs.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from tests.dags.test_load_reconcile import event, load_block, state_rows, sweep

D0, D1, D2 = "2026-10-01", "2026-10-02", "2026-10-03"
TABLES = ("feishu_workplace_access", "feishu_custom_workplace_access", "feishu_block_access", "feishu_load_state")


def block_items(examples, day: str) -> list[dict]:
    return examples.double.expected_items("block", day, day)


def write_day(examples, day: str, items: list[dict], dataset: str = "block") -> Path:
    """Put a day's file in the lake's layout, as the extract would (the load only reads the lake)."""
    path = examples.lake_dir / f"{dataset}_access" / f"dt={day}" / "part.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")
    return path


class Warehouse:
    """Reads the block table from SQLite or PostgreSQL, as ``(date, block_id, pv, uv)`` text-dated rows."""

    def __init__(self, examples, postgres_uri: str | None = None) -> None:
        self.examples = examples
        self.postgres_uri = postgres_uri

    def query(self, sql: str) -> list[tuple]:
        if self.postgres_uri is None:
            with closing(sqlite3.connect(self.examples.lake_dir.parent / "warehouse.db")) as db:
                return db.execute(sql).fetchall()
        import psycopg2

        with closing(psycopg2.connect(self.postgres_uri)) as db, db.cursor() as cursor:
            cursor.execute(sql)
            return [tuple(v.isoformat() if hasattr(v, "isoformat") else v for v in row) for row in cursor.fetchall()]

    def execute(self, sql: str) -> None:
        import psycopg2

        with closing(psycopg2.connect(self.postgres_uri)) as db, db.cursor() as cursor:
            cursor.execute(sql)
            db.commit()

    def blocks(self, day: str) -> list[tuple]:
        return self.query(f"SELECT date, block_id, pv, uv FROM feishu_block_access WHERE date = '{day}' ORDER BY 2")

    def state(self, day: str) -> list[tuple]:
        return self.query(
            f"SELECT day, row_count FROM feishu_load_state WHERE table_name = 'feishu_block_access' AND day = '{day}'"
        )


@pytest.fixture(params=["sqlite", "postgres"])
def warehouse(request, examples, monkeypatch):
    if request.param == "sqlite":
        yield Warehouse(examples)
        return
    postgres_uri = request.getfixturevalue("postgres_uri")
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_WAREHOUSE", postgres_uri)
    store = Warehouse(examples, postgres_uri)
    drop = "; ".join(f"DROP TABLE IF EXISTS {table}" for table in TABLES)
    store.execute(drop)
    yield store
    store.execute(drop)


def as_rows(items: list[dict]) -> list[tuple]:
    return sorted((i["date"], i["block_id"], i["access_data"]["pv"], i["access_data"]["uv"]) for i in items)


BAD_ITEMS = {
    "count-as-text": (lambda item: item["access_data"].update(pv="lots"), "pv='lots' is not a whole number"),
    "count-past-int64": (lambda item: item["access_data"].update(pv=2**64), "out of range"),
    "count-negative": (lambda item: item["access_data"].update(uv=-1), "out of range"),
    "count-fractional": (lambda item: item["access_data"].update(pv=1.5), "not a whole number"),
    "count-boolean": (lambda item: item["access_data"].update(pv=True), "not a whole number"),
    "count-missing": (lambda item: item["access_data"].update(pv=None), "is missing"),
    "id-too-long": (lambda item: item.update(block_id="b" * 129), "longer than 128"),
    "id-with-nul": (lambda item: item.update(block_id="blk\x00evil"), "NUL"),
    "id-lone-surrogate": (lambda item: item.update(block_id="blk\ud800"), "surrogate"),
    "id-not-text": (lambda item: item.update(block_id=12345), "not text"),
    "date-not-a-date": (lambda item: item.update(date="2026-10-1"), "not a YYYY-MM-DD date"),
    "row-of-another-day": (lambda item: item.update(date=D2), f"is for {D2}"),
}


@pytest.mark.parametrize("spoil", BAD_ITEMS.values(), ids=BAD_ITEMS.keys())
def test_a_bad_row_fails_its_day_alone_and_leaves_its_rows_while_the_other_days_load(spoil, examples, warehouse):
    change, message = spoil
    write_day(examples, D0, block_items(examples, D0))
    load_block(examples)
    loaded_before = warehouse.blocks(D0)
    items = block_items(examples, D0)
    change(items[2])
    write_day(examples, D0, items)  # a new version of D0 that does not fit
    write_day(examples, D1, block_items(examples, D1))

    with pytest.raises(ValueError, match=f"could not be loaded.*: {D0}\\.") as raised:
        load_block(examples)

    assert message in str(raised.value) and "item 3" in str(raised.value)
    assert warehouse.blocks(D0) == loaded_before == as_rows(block_items(examples, D0))
    assert warehouse.state(D0) == [(D0, 5)]
    assert warehouse.blocks(D1) == as_rows(block_items(examples, D1))


def test_a_file_with_only_another_days_rows_does_not_empty_the_day(examples, warehouse):
    write_day(examples, D0, block_items(examples, D0))
    load_block(examples)
    write_day(examples, D0, block_items(examples, D1))  # D1's data under D0's name

    with pytest.raises(ValueError, match=f"is for {D1}, but the file holds {D0}"):
        load_block(examples)

    assert warehouse.blocks(D0) == as_rows(block_items(examples, D0))
    assert warehouse.state(D0) == [(D0, 5)]


def test_a_file_that_repeats_a_key_fails_its_day_before_the_database_sees_it(examples, warehouse):
    items = block_items(examples, D0)
    write_day(examples, D0, [*items, items[0]])
    write_day(examples, D1, block_items(examples, D1))

    with pytest.raises(ValueError, match="repeats the key"):
        load_block(examples)

    assert warehouse.blocks(D0) == [] and warehouse.state(D0) == []
    assert len(warehouse.blocks(D1)) == 5


@pytest.mark.parametrize("spoiled", ["count-past-int64", "count-as-text"])
def test_in_a_real_run_a_bad_day_fails_the_task_at_the_end_and_the_others_load(spoiled, examples, warehouse, capsys):
    items = block_items(examples, D0)
    BAD_ITEMS[spoiled][0](items[0])
    write_day(examples, D0, items)
    for day in (D1, D2):
        write_day(examples, day, block_items(examples, day))
    write_day(examples, D1, examples.double.expected_items("workplace", D1, D1), dataset="workplace")

    states = sweep(examples)

    assert states["load_block"] == "failed" and states["load_workplace"] == "success"
    assert warehouse.blocks(D0) == []
    assert warehouse.blocks(D1) == as_rows(block_items(examples, D1))
    assert warehouse.blocks(D2) == as_rows(block_items(examples, D2))
    assert (
        f"1 block days could not be loaded (their rows are unchanged; 2 others were): {D0}" in capsys.readouterr().out
    )


def test_a_row_the_database_refuses_fails_its_day_alone_on_postgresql(examples, postgres_uri, monkeypatch):
    """A database error (here a constraint the warehouse's owner added) is handled like a file that does not fit."""
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_WAREHOUSE", postgres_uri)
    store = Warehouse(examples, postgres_uri)
    store.execute("; ".join(f"DROP TABLE IF EXISTS {table}" for table in TABLES))
    try:
        write_day(examples, D0, block_items(examples, D0))
        load_block(examples)  # creates the tables
        store.execute("ALTER TABLE feishu_block_access ADD CONSTRAINT pv_small CHECK (pv < 1000000)")
        items = block_items(examples, D1)
        items[0]["access_data"]["pv"] = 5_000_000
        write_day(examples, D1, items)
        write_day(examples, D2, block_items(examples, D2))

        with pytest.raises(ValueError, match=f"could not be loaded.*{D1}.*CheckViolation.*pv_small"):
            load_block(examples)

        assert store.blocks(D1) == [] and store.state(D1) == []
        assert store.blocks(D2) == as_rows(block_items(examples, D2))
    finally:
        store.execute("; ".join(f"DROP TABLE IF EXISTS {table}" for table in TABLES))


def test_sqlite_tables_refuse_values_of_the_wrong_type_themselves(examples):
    from airflow.providers.common.compat.sdk import BaseHook
    from feishu_workplace_tables import TABLES as DATASET_TABLES
    from feishu_workplace_tables import ensure_tables

    hook = BaseHook.get_connection("feishu_warehouse").get_hook()
    ensure_tables(hook, DATASET_TABLES["block"])
    database = examples.lake_dir.parent / "warehouse.db"
    insert = "INSERT INTO feishu_block_access (date, block_id, pv, uv) VALUES (?, ?, ?, ?)"
    refused = [
        (D0, "blk_1", "lots", 1),
        (D0, "blk_2", 1.5, 1),
        (D0, "blk_3", -1, 1),
        (D0, "b" * 129, 1, 1),
        ("2026-10-1", "blk_4", 1, 1),
    ]

    with closing(sqlite3.connect(database)) as db:
        for row in refused:
            with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
                db.execute(insert, row)
        db.execute(insert, (D0, "blk_ok", 7, 3))  # what fits still goes in
        db.commit()
        assert db.execute("SELECT * FROM feishu_block_access").fetchall() == [(D0, "blk_ok", 7, 3)]


def outside_file(examples, tmp_path) -> Path:
    path = tmp_path / "outside" / "blocks.jsonl"
    path.parent.mkdir(exist_ok=True)
    path.write_text("".join(json.dumps(item) + "\n" for item in block_items(examples, D0)))
    return path


def event_paths(examples, tmp_path) -> dict[str, str]:
    outside = outside_file(examples, tmp_path)
    lake = examples.lake_dir
    link = lake / "ranges" / "link.jsonl"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside)
    twin = Path(f"{lake}-twin") / "blocks.jsonl"  # a sibling whose name starts with the lake's
    twin.parent.mkdir(exist_ok=True)
    twin.write_text(outside.read_text())
    return {
        "a-file-outside-the-lake": f"file://{outside}",
        "dot-dot-out-of-the-lake": f"file://{lake}/block_access/../../outside/blocks.jsonl",
        "a-symlink-in-the-lake-leading-out": f"file://{link}",
        "a-sibling-named-like-the-lake": f"file://{twin}",
        "another-store": "s3://another-bucket/blocks.jsonl",
        "an-in-memory-store": "memory://blocks.jsonl",
        "a-bare-local-path": str(outside),
    }


EVENT_CASES = [
    "a-file-outside-the-lake",
    "dot-dot-out-of-the-lake",
    "a-symlink-in-the-lake-leading-out",
    "a-sibling-named-like-the-lake",
    "another-store",
    "an-in-memory-store",
    "a-bare-local-path",
]


@pytest.mark.parametrize("case", EVENT_CASES)
def test_an_asset_event_naming_a_file_outside_the_lake_gets_nothing_loaded(case, examples, tmp_path):
    path = event_paths(examples, tmp_path)[case]
    write_day(examples, D1, block_items(examples, D1))
    extra = {"dataset": "block", "from_date": D0, "to_date": D0, "items": 5, "path": path, "days": {D0: path}}

    with pytest.raises(ValueError, match=f"could not be loaded.*{D0}.*not in the lake"):
        load_block(examples, [event("block", extra)])

    assert [row for row in examples.rows("feishu_block_access") if row[0] == D0] == []
    assert len([row for row in examples.rows("feishu_block_access") if row[0] == D1]) == 5


def test_a_symlink_planted_in_the_lakes_layout_is_not_followed_out(examples, tmp_path):
    outside = outside_file(examples, tmp_path)
    day_file = examples.lake_dir / "block_access" / f"dt={D0}" / "part.jsonl"
    day_file.parent.mkdir(parents=True)
    day_file.symlink_to(outside)
    write_day(examples, D1, block_items(examples, D1))

    with pytest.raises(ValueError, match="a symbolic link leads out of it"):
        load_block(examples)

    assert {row[0] for row in examples.rows("feishu_block_access")} == {D1}


def test_a_range_file_inside_the_lake_still_loads_each_of_its_days(examples):
    items = [item for day in (D0, D1) for item in block_items(examples, day)]
    path = examples.lake_dir / "ranges" / "blocks.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps(item) + "\n" for item in items))
    uri = f"file://{path}"
    extra = {"dataset": "block", "from_date": D0, "to_date": D1, "items": 10, "path": uri, "days": {D0: uri, D1: uri}}

    loaded = load_block(examples, [event("block", extra)])

    assert loaded == {"loaded": {D0: 5, D1: 5}, "up_to_date": 0}
    assert state_rows(examples) == [("feishu_block_access", D0, 5), ("feishu_block_access", D1, 5)]


@pytest.mark.parametrize(
    "extra",
    [
        {"days": {"yesterday": "file:///etc/passwd"}},
        {"path": "file:///x.jsonl", "from_date": "0001-01-01", "to_date": "9999-12-31"},
        {"path": "file:///x.jsonl", "from_date": 20261001, "to_date": "not a date"},
    ],
    ids=["day-not-a-date", "range-too-long", "range-not-dates"],
)
def test_an_asset_event_with_fields_the_extract_never_writes_is_ignored(extra, examples):
    write_day(examples, D1, block_items(examples, D1))

    loaded = load_block(examples, [event("block", extra)])

    assert loaded == {"loaded": {D1: 5}, "up_to_date": 0}
