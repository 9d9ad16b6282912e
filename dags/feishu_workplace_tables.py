"""Warehouse tables for the Feishu Workplace data sets, and loading one lake file into them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

BATCH_ROWS = 1000


@dataclass(frozen=True)
class Table:
    """One data set's table: its columns (name, SQL type), key, and how an API item becomes a row."""

    name: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]
    row: Callable[[dict[str, Any]], tuple]

    def create_sql(self) -> str:
        columns = ", ".join(f"{name} {sql_type} NOT NULL" for name, sql_type in self.columns)
        return f"CREATE TABLE IF NOT EXISTS {self.name} ({columns}, PRIMARY KEY ({', '.join(self.key)}))"

    def insert_sql(self, placeholder: str) -> str:
        names = ", ".join(name for name, _ in self.columns)
        return f"INSERT INTO {self.name} ({names}) VALUES ({', '.join([placeholder] * len(self.columns))})"


def _localized(names: list[dict[str, str]], language: str) -> str:
    return next((entry.get("name") or "" for entry in names or [] if entry.get("language") == language), "")


TABLES = {
    "workplace": Table(
        "feishu_workplace_access",
        (
            ("date", "DATE"),
            ("all_pv", "BIGINT"),
            ("all_uv", "BIGINT"),
            ("default_pv", "BIGINT"),
            ("default_uv", "BIGINT"),
        ),
        ("date",),
        lambda item: (
            item["date"],
            item["all_workplace"]["pv"],
            item["all_workplace"]["uv"],
            item["default_workplace"]["pv"],
            item["default_workplace"]["uv"],
        ),
    ),
    "custom_workplace": Table(
        "feishu_custom_workplace_access",
        (
            ("date", "DATE"),
            ("custom_workplace_id", "VARCHAR(128)"),
            ("pv", "BIGINT"),
            ("uv", "BIGINT"),
            ("name_zh", "VARCHAR(256)"),
            ("name_en", "VARCHAR(256)"),
        ),
        ("date", "custom_workplace_id"),
        lambda item: (
            item["date"],
            item["custom_workplace_id"],
            item["access_data"]["pv"],
            item["access_data"]["uv"],
            _localized(item.get("custom_workplace_name"), "zh_cn"),
            _localized(item.get("custom_workplace_name"), "en_us"),
        ),
    ),
    "block": Table(
        "feishu_block_access",
        (("date", "DATE"), ("block_id", "VARCHAR(128)"), ("pv", "BIGINT"), ("uv", "BIGINT")),
        ("date", "block_id"),
        lambda item: (item["date"], item["block_id"], item["access_data"]["pv"], item["access_data"]["uv"]),
    ),
}


def read_file_rows(path: Any, table: Table) -> Iterator[tuple]:
    """Yield the rows of one lake file, JSON Lines or Parquet (a ``.parquet`` name), one batch in memory at a time.

    :param path: the file, an ``ObjectStoragePath`` (``file://``, ``s3://``, ...).
    :param table: the data set's table, which turns each item into a row.
    """
    if path.name.lower().endswith(".parquet"):
        yield from _parquet_rows(path, table)
        return
    with path.open("r", encoding="utf-8") as handle:
        # readline(), not iteration: the file object of Airflow 2.11 and 3.0 cannot be iterated.
        yield from read_rows(iter(handle.readline, ""), table, str(path))


def _parquet_rows(path: Any, table: Table) -> Iterator[tuple]:
    import pyarrow.parquet as pq  # only a Parquet lake needs it (the provider's [parquet] extra)

    number = 0
    with path.open("rb") as handle, pq.ParquetFile(handle) as parquet_file:
        for batch in parquet_file.iter_batches(batch_size=BATCH_ROWS):
            for item in batch.to_pylist():
                number += 1
                try:
                    item["date"] = item["date"].isoformat()  # a date32 column: the same text as in JSON Lines
                    yield table.row(item)
                except (ValueError, KeyError, TypeError, AttributeError) as error:
                    raise ValueError(f"{path} row {number} does not fit {table.name}: {error!r}") from error


def read_rows(lines: Iterable[str], table: Table, source: str) -> Iterator[tuple]:
    """Turn JSON Lines into rows, naming the file and line of an item that does not fit the table."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield table.row(json.loads(line))
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{source} line {number} does not fit {table.name}: {error!r}") from error


def replace_days(hook: Any, table: Table, first_day: str, last_day: str, rows: Iterable[tuple]) -> int:
    """Replace the table's rows for ``first_day..last_day`` with ``rows`` in one transaction.

    :param hook: a ``DbApiHook`` (SQLite, PostgreSQL, ...).
    :return: the number of rows inserted.
    """
    placeholder = hook.placeholder
    conn = hook.get_conn()
    try:
        cursor = conn.cursor()
        cursor.execute(table.create_sql())
        conn.commit()
        cursor.execute(
            f"DELETE FROM {table.name} WHERE date >= {placeholder} AND date <= {placeholder}", (first_day, last_day)
        )
        inserted = 0
        insert_sql = table.insert_sql(placeholder)
        rows = iter(rows)
        while batch := list(islice(rows, BATCH_ROWS)):
            cursor.executemany(insert_sql, batch)
            inserted += len(batch)
        conn.commit()
        return inserted
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.close()
