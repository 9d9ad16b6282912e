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
from typing import Any

BATCH_ROWS = 1000


@dataclass(frozen=True)
class Table:
    """One data set's table: its columns (name, SQL type), key, and how an API item becomes a row."""

    name: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]
    row: Callable[[dict[str, Any]], tuple]

    def create_sql(self, kind: str = "") -> str:
        """``CREATE TABLE IF NOT EXISTS``, with checks that make SQLite as strict as the declared types.

        :param kind: the database (:func:`dialect`): SQLite stores any value in any column unless checked.
        """
        columns = ", ".join(
            f"{name} {sql_type} NOT NULL{_column_check(name, sql_type, kind)}" for name, sql_type in self.columns
        )
        return f"CREATE TABLE IF NOT EXISTS {self.name} ({columns}, PRIMARY KEY ({', '.join(self.key)}))"

    def checked_row(self, row: tuple, where: str) -> tuple:
        """Return ``row`` if every value fits its column's type, else raise ``ValueError`` naming it.

        Counts (``BIGINT``) are whole numbers from 0 to 2**63 - 1, ``VARCHAR(n)`` values text of at most
        ``n`` characters without NUL that UTF-8 can encode, ``DATE`` values ``YYYY-MM-DD``: what both
        PostgreSQL and SQLite (with :meth:`create_sql`'s checks) store as declared.
        """
        if len(row) != len(self.columns):
            raise ValueError(f"{where} has {len(row)} values for the {len(self.columns)} columns of {self.name}")
        for (name, sql_type), value in zip(self.columns, row, strict=True):
            problem = _value_problem(sql_type, value)
            if problem:
                raise ValueError(f"{where} does not fit {self.name}: {name}={_shown_value(value)} {problem}")
        return row

    def insert_sql(self, placeholder: str) -> str:
        names = ", ".join(name for name, _ in self.columns)
        return f"INSERT INTO {self.name} ({names}) VALUES ({', '.join([placeholder] * len(self.columns))})"


INT64_MAX = 2**63 - 1


def _varchar_length(sql_type: str) -> int | None:
    if sql_type.startswith("VARCHAR(") and sql_type.endswith(")"):
        return int(sql_type[len("VARCHAR(") : -1])
    return None


def _value_problem(sql_type: str, value: Any) -> str | None:
    """Why ``value`` does not fit a column of ``sql_type``, or ``None``."""
    if value is None:
        return "is missing (the column is NOT NULL)"
    if sql_type == "BIGINT":
        if isinstance(value, bool) or not isinstance(value, int):
            return "is not a whole number"
        if not 0 <= value <= INT64_MAX:
            return "is out of range for a count (0 to 2**63 - 1)"
        return None
    if sql_type == "DATE":
        import datetime as dt

        try:
            if not isinstance(value, str) or dt.date.fromisoformat(value).isoformat() != value:
                return "is not a YYYY-MM-DD date"
        except ValueError:
            return "is not a YYYY-MM-DD date"
        return None
    length = _varchar_length(sql_type)
    if length is not None:
        if not isinstance(value, str):
            return "is not text"
        if len(value) > length:
            return f"is {len(value)} characters long, longer than {length}"
        if "\x00" in value:
            return "holds a NUL character"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "holds characters UTF-8 cannot encode (a lone surrogate)"
    return None


def _shown_value(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else f"{shown[:57]}..."


def _column_check(name: str, sql_type: str, kind: str) -> str:
    """The column's CHECK constraint: SQLite's types are only affinities, so the types are checked there."""
    if kind != "sqlite":
        return f" CHECK ({name} >= 0)" if sql_type == "BIGINT" else ""
    if sql_type == "BIGINT":
        return f" CHECK (typeof({name}) = 'integer' AND {name} >= 0)"
    if sql_type == "DATE":
        return f" CHECK (typeof({name}) = 'text' AND {name} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]')"
    length = _varchar_length(sql_type)
    if length is not None:
        return f" CHECK (typeof({name}) = 'text' AND length({name}) <= {length})"
    return ""


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


def inside_lake(path: Any, base: Any) -> Any:
    """Return ``path`` if it is a file under the lake ``base``, else raise ``ValueError`` saying why.

    Only the lake is ever read, whatever an asset event names: the same store (scheme, and bucket on object
    stores) and a path under the lake's, with no ``.`` or ``..`` part; on a local lake the path with its
    symbolic links resolved must still be under the lake's (resolved) folder. Returns the resolved path
    for local files, so the file read is the one checked.

    :param path: an ``ObjectStoragePath``.
    :param base: the lake's base, an ``ObjectStoragePath``.
    """
    import os

    protocol, base_protocol = _protocol(path), _protocol(base)
    text, root = _fs_path(path), _fs_path(base).rstrip("/")
    if protocol != base_protocol:
        raise ValueError(f"{path} is not in the lake {base}: another store ({protocol}://, not {base_protocol}://)")
    parts = text.split("/")
    if any(part in (".", "..") for part in parts) or "\x00" in text:
        raise ValueError(f"{path} is not in the lake {base}: a path with '.' or '..' parts is refused")
    if not text.startswith(f"{root}/"):
        raise ValueError(f"{path} is not in the lake {base}")
    if protocol != "file":
        return path
    real, real_root = os.path.realpath(text), os.path.realpath(root)
    if not real.startswith(real_root.rstrip("/") + "/"):
        raise ValueError(f"{path} is not in the lake {base}: a symbolic link leads out of it (to {real})")
    if not os.path.isfile(real):
        raise ValueError(f"{path} is not a file")
    return type(path)(f"file://{real}")


def _protocol(path: Any) -> str:
    protocol = getattr(path, "protocol", None) or str(path).partition("://")[0] or "file"
    if isinstance(protocol, tuple | list):
        protocol = protocol[0]
    return "file" if protocol in ("file", "local") else str(protocol)


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
        cursor.execute(table.create_sql(dialect(hook)))
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
    file_days: tuple[str, str] | None = None,
) -> int | None:
    """Replace the table's rows of ``day`` with ``rows()`` and record ``fingerprint``, in one transaction.

    Every row is checked first, before the transaction: its values against the table's types
    (:meth:`Table.checked_row`), its date against the days the file holds, its key against the others'. A
    file that fails raises ``ValueError`` and leaves the warehouse as it was. Loads of the same table and
    day take turns (:func:`transaction`), so concurrent runs neither fail on the primary key nor mix two
    files' rows: the last to commit wins, whole.

    :param rows: the file's rows; those of the file's other days are left out.
    :param unless_loaded: skip the day (return ``None``) when the warehouse already holds this fingerprint,
        for example because a concurrent load did it while this one waited for the lock.
    :param file_days: the first and last day the file holds (a range's file); default: ``day`` alone.
        A row of any other day means the file is not what its name or event says: the day fails.
    :return: the number of rows inserted, or ``None`` when skipped.
    """
    import datetime as dt

    day_rows = checked_day_rows(table, day, rows(), source=source, file_days=file_days)
    p = hook.placeholder
    with transaction(hook, f"feishu_workplace:{table.name}:{day}") as cursor:
        if unless_loaded:
            cursor.execute(
                f"SELECT fingerprint FROM {STATE_TABLE} WHERE table_name = {p} AND day = {p}", (table.name, day)
            )
            current = cursor.fetchone()
            if current is not None and current[0] == fingerprint:
                return None
        _replace_rows(cursor, table, p, {"date": day}, day_rows)
        cursor.execute(f"DELETE FROM {STATE_TABLE} WHERE table_name = {p} AND day = {p}", (table.name, day))
        loaded_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        cursor.execute(
            f"INSERT INTO {STATE_TABLE} (table_name, day, source, fingerprint, row_count, loaded_at)"
            f" VALUES ({p}, {p}, {p}, {p}, {p}, {p})",
            (table.name, day, source[:2048], fingerprint, len(day_rows), loaded_at),
        )
        return len(day_rows)


def replace_tenant_day(
    hook: Any, table: Table, tenant_key: str, day: str, rows: Iterable[tuple], *, source: str
) -> int:
    """Replace one tenant's rows of ``day`` in a :func:`tenant_table` with ``rows``, in one transaction.

    The rows are checked first, as :func:`replace_day` does; the other tenants' rows of the day are left as
    they are, and loads of other tenants' days run alongside (on PostgreSQL). No load state is recorded:
    a tenant-day partition's run loads its day whenever it runs.

    :return: the number of rows inserted.
    """
    day_rows = checked_day_rows(table, day, rows, source=source)
    if any(row[1] != tenant_key for row in day_rows):
        raise ValueError(f"{source} holds rows of another tenant than {tenant_key!r}")
    with transaction(hook, f"feishu_workplace:{table.name}:{tenant_key}:{day}") as cursor:
        _replace_rows(cursor, table, hook.placeholder, {"date": day, "tenant_key": tenant_key}, day_rows)
    return len(day_rows)


def _replace_rows(cursor: Any, table: Table, p: str, match: dict[str, str], rows: list[tuple]) -> None:
    """Delete the table's rows whose columns equal ``match``'s values; insert ``rows``."""
    where = " AND ".join(f"{name} = {p}" for name in match)
    cursor.execute(f"DELETE FROM {table.name} WHERE {where}", tuple(match.values()))
    insert_sql = table.insert_sql(p)
    for start in range(0, len(rows), BATCH_ROWS):
        cursor.executemany(insert_sql, rows[start : start + BATCH_ROWS])


def checked_day_rows(
    table: Table, day: str, rows: Iterable[tuple], *, source: str, file_days: tuple[str, str] | None = None
) -> list[tuple]:
    """``day``'s rows of a file, each checked (see :func:`replace_day`); raise ``ValueError`` at the first misfit."""
    first, last = file_days or (day, day)
    names = [name for name, _ in table.columns]
    key_columns = [names.index(name) for name in table.key]
    seen: set[tuple] = set()
    day_rows = []
    for number, row in enumerate(rows, start=1):
        where = f"{source} item {number}"
        row = table.checked_row(tuple(row), where)
        row_day = row[0]
        if not first <= row_day <= last:
            holds = day if first == last else f"{first}..{last}"
            raise ValueError(f"{where} is for {row_day}, but the file holds {holds}: it is not that day's file")
        if row_day != day:
            continue
        key = tuple(row[index] for index in key_columns)
        if key in seen:
            raise ValueError(f"{where} repeats the key {dict(zip(table.key, key, strict=True))} of {table.name}")
        seen.add(key)
        day_rows.append(row)
    return day_rows


def _day_text(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


# A store app's tenants: each tenant's files under <lake>/tenant=<key>/, every tenant's rows in one table per
# data set with the tenant key as a column (and in the key). The self-built app's lake and tables are as above.
TENANT_FOLDER = "tenant="
TENANT_COLUMN = ("tenant_key", "VARCHAR(128)")


def tenant_table(table: Table) -> Table:
    """The table holding every tenant's rows of ``table``'s data set: ``tenant_key`` second, and in the key.

    Its ``row`` takes an item with a ``tenant_key`` field; lake files have none (their folder names the
    tenant): read them with :func:`tenant_rows`.
    """
    return Table(
        f"{table.name}_by_tenant",
        (table.columns[0], TENANT_COLUMN, *table.columns[1:]),
        (table.key[0], TENANT_COLUMN[0], *table.key[1:]),
        lambda item: _with_tenant(table.row(item), item[TENANT_COLUMN[0]]),
    )


def tenant_rows(path: Any, table: Table, tenant_key: str) -> Iterator[tuple]:
    """Yield the rows of one tenant's lake file for :func:`tenant_table` of ``table``."""
    for row in read_file_rows(path, table):
        yield _with_tenant(row, tenant_key)


def _with_tenant(row: tuple, tenant_key: str) -> tuple:
    return (row[0], tenant_key, *row[1:])


def tenant_lake(base: Any, tenant_key: str) -> Any:
    """The lake folder of one tenant: ``<base>/tenant=<key>``."""
    return base / f"{TENANT_FOLDER}{tenant_key}"


def tenant_lake_files(base: Any, dataset: str) -> dict[str, dict[str, LakeFile]]:
    """Every tenant's days of ``dataset`` in the lake (see :func:`lake_files`), by day, then by tenant key."""
    found: dict[str, dict[str, LakeFile]] = {}
    try:
        folders = base.fs.ls(_fs_path(base), detail=False)
    except FileNotFoundError:
        return found
    for folder in sorted(folders):
        name = str(folder).rstrip("/").rpartition("/")[2]
        if not name.startswith(TENANT_FOLDER) or len(name) == len(TENANT_FOLDER):
            continue
        tenant_key = name[len(TENANT_FOLDER) :]
        for day, file in lake_files(tenant_lake(base, tenant_key), dataset).items():
            found.setdefault(day, {})[tenant_key] = file
    return found


def tenants_fingerprint(files: dict[str, LakeFile]) -> str:
    """One fingerprint for a day's files of every tenant: it changes when any tenant's file does."""
    import hashlib

    text = "\n".join(f"{tenant}={file.fingerprint}" for tenant, file in sorted(files.items()))
    return f"tenants={len(files)};sha256={hashlib.sha256(text.encode()).hexdigest()}"
