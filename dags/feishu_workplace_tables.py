"""Warehouse tables for the Feishu Workplace data sets, the lake's days, and loading a day safely.

Each day is loaded in one transaction that loads of the same table and day cannot interleave with, and
the warehouse records which lake file (and which version of it: its fingerprint) each day holds, so that
a load can find every day that is missing or stale instead of trusting one run's asset events.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
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


# The warehouse's record of what it holds: per table and day, the lake file loaded and its fingerprint.
STATE_TABLE = "feishu_load_state"
STATE_COLUMNS = (
    ("table_name", "VARCHAR(128)"),
    ("day", "DATE"),
    ("source", "VARCHAR(2048)"),
    ("fingerprint", "VARCHAR(512)"),
    ("row_count", "BIGINT"),
    ("loaded_at", "VARCHAR(40)"),
)
LAKE_FILE_NAMES = ("part.jsonl", "part.parquet")
# How long a SQLite load waits for another one holding the write lock before it gives up.
SQLITE_BUSY_TIMEOUT_MS = 120_000


@dataclass(frozen=True)
class LakeFile:
    """One day's file in the lake, with a fingerprint that changes whenever the file is replaced."""

    day: str
    path: Any
    fingerprint: str


def lake_files(base: Any, dataset: str) -> dict[str, LakeFile]:
    """Every day of ``dataset`` in the lake (``<base>/<dataset>_access/dt=YYYY-MM-DD/part.*``), by day.

    One listing (one ``find`` on object stores, whose answer carries each object's size, time and ETag).

    :param base: the lake's base, an ``ObjectStoragePath``.
    """
    import datetime as dt

    folder = base / f"{dataset}_access"
    found: dict[str, LakeFile] = {}
    modified: dict[str, float] = {}
    try:
        entries = folder.fs.find(_fs_path(folder), detail=True)
    except FileNotFoundError:
        return found
    for name, info in entries.items():
        partition, _, file_name = name.rstrip("/").rpartition("/")
        partition = partition.rpartition("/")[2]
        if file_name not in LAKE_FILE_NAMES or not partition.startswith("dt="):
            continue  # writers' temporary files, and anything else
        day = partition[3:]
        try:
            dt.date.fromisoformat(day)
        except ValueError:
            continue
        # Both formats for one day: the file written last is the day's data.
        if day not in found or _modified(info) >= modified[day]:
            found[day] = LakeFile(day, folder / partition / file_name, fingerprint(info))
            modified[day] = _modified(info)
    return found


def file_fingerprint(path: Any) -> str:
    """The fingerprint of one file (see :func:`fingerprint`)."""
    return fingerprint(path.fs.info(_fs_path(path)))


def fingerprint(info: dict[str, Any]) -> str:
    """A file's identity from its listing: size, modification time and, where the store has them, ETag or inode.

    Writers replace a file as a whole (a new inode, or a new object), so a replaced file has a new fingerprint.
    """
    parts = [f"size={info.get('size')}"]
    for key in ("mtime", "LastModified", "last_modified", "ETag", "etag", "ino", "created"):
        if info.get(key) is not None:
            parts.append(f"{key}={info[key]}")
    return ";".join(parts)[:512]


def _modified(info: dict[str, Any]) -> float:
    value = info.get("mtime") or info.get("LastModified") or info.get("last_modified") or info.get("created")
    if hasattr(value, "timestamp"):
        return value.timestamp()
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _fs_path(path: Any) -> str:
    # The filesystem's own path (no scheme): ObjectStoragePath.path on Airflow 3, .key's parent form on 2.11.
    return path.path if hasattr(path, "path") else str(path).split("://", 1)[-1]


def dialect(hook: Any) -> str:
    """``postgres``, ``sqlite``, or the hook's connection type for other databases."""
    conn_type = str(getattr(hook, "conn_type", "") or "").lower()
    return "postgres" if conn_type in ("postgres", "postgresql") else conn_type


@contextmanager
def transaction(hook: Any, lock_key: str) -> Iterator[Any]:
    """One transaction that no other holder of ``lock_key`` runs alongside; yields a cursor.

    PostgreSQL: a transaction-scoped advisory lock on the key (other keys, other days, run in parallel).
    SQLite: ``BEGIN IMMEDIATE``, the database's write lock, taken before reading anything. Other
    databases get a plain transaction: concurrent loads of one day are not safe there.
    """
    kind = dialect(hook)
    conn = hook.get_conn()
    try:
        if kind == "sqlite":
            conn.isolation_level = None  # transactions are begun here, not by the driver
            conn.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor = conn.cursor()
            cursor.execute("BEGIN IMMEDIATE")
        else:
            cursor = conn.cursor()
            if kind == "postgres":
                cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (lock_key,))
        yield cursor
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.close()


def ensure_tables(hook: Any, table: Table) -> None:
    """Create the data set's table and the load state table if missing (one creator at a time)."""
    columns = ", ".join(f"{name} {sql_type} NOT NULL" for name, sql_type in STATE_COLUMNS)
    with transaction(hook, "feishu_workplace:create") as cursor:
        # Concurrent CREATE TABLE IF NOT EXISTS can fail on PostgreSQL's catalog: hence the lock.
        cursor.execute(table.create_sql())
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} ({columns}, PRIMARY KEY (table_name, day))")


def loaded_fingerprints(hook: Any, table: Table) -> dict[str, str]:
    """``{day: fingerprint}`` of the lake files the warehouse holds for ``table``."""
    placeholder = hook.placeholder
    conn = hook.get_conn()
    try:
        cursor = conn.cursor()
        cursor.execute(f"SELECT day, fingerprint FROM {STATE_TABLE} WHERE table_name = {placeholder}", (table.name,))
        return {_day_text(day): print_ for day, print_ in cursor.fetchall()}
    finally:
        conn.close()


def replace_day(
    hook: Any,
    table: Table,
    day: str,
    rows: Callable[[], Iterable[tuple]],
    *,
    source: str,
    fingerprint: str,
    unless_loaded: bool = True,
) -> int | None:
    """Replace the table's rows of ``day`` with ``rows()`` and record ``fingerprint``, in one transaction.

    Loads of the same table and day take turns (:func:`transaction`), so concurrent runs neither fail on
    the primary key nor mix two files' rows: the last to commit wins, whole.

    :param rows: called inside the transaction; rows of other days are left out.
    :param unless_loaded: skip the day (return ``None``) when the warehouse already holds this fingerprint,
        for example because a concurrent load did it while this one waited for the lock.
    :return: the number of rows inserted, or ``None`` when skipped.
    """
    import datetime as dt

    p = hook.placeholder
    with transaction(hook, f"feishu_workplace:{table.name}:{day}") as cursor:
        if unless_loaded:
            cursor.execute(
                f"SELECT fingerprint FROM {STATE_TABLE} WHERE table_name = {p} AND day = {p}", (table.name, day)
            )
            current = cursor.fetchone()
            if current is not None and current[0] == fingerprint:
                return None
        cursor.execute(f"DELETE FROM {table.name} WHERE date = {p}", (day,))
        inserted = 0
        insert_sql = table.insert_sql(p)
        day_rows = (row for row in rows() if _day_text(row[0]) == day)
        while batch := list(islice(day_rows, BATCH_ROWS)):
            cursor.executemany(insert_sql, batch)
            inserted += len(batch)
        cursor.execute(f"DELETE FROM {STATE_TABLE} WHERE table_name = {p} AND day = {p}", (table.name, day))
        loaded_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        cursor.execute(
            f"INSERT INTO {STATE_TABLE} (table_name, day, source, fingerprint, row_count, loaded_at)"
            f" VALUES ({p}, {p}, {p}, {p}, {p}, {p})",
            (table.name, day, source[:2048], fingerprint, inserted, loaded_at),
        )
        return inserted


def _day_text(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
