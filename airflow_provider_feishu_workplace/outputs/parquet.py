"""Parquet for the access data sets: an explicit schema per data set, written in row groups while paging.

The schema follows the items' own shape, typed, and comes from the data set's
:class:`~airflow_provider_feishu_workplace.endpoints.SearchEndpoint` record:

| item field | Parquet type | nullable |
|---|---|---|
| ``date`` | ``date32`` (a calendar day) | no |
| the id field (``custom_workplace_id``, ``block_id``) | ``string`` | no |
| each counts field (``all_workplace``, ``access_data``, ...) | ``struct<pv: int64, uv: int64>`` | no |
| each names field (``custom_workplace_name``) | ``list<struct<language: string, name: string>>`` | yes |

So the ``workplace`` file has ``date, all_workplace, default_workplace``; ``custom_workplace`` has
``custom_workplace_id, date, access_data, custom_workplace_name``... in the record's order: ``date``,
the id field, the counts fields, the names fields. Item fields the record does not name are not written
(a warning names them, as ``extra`` or, inside counts objects and name entries, ``access_data.extra`` and
``custom_workplace_name[].extra``; JSON Lines keeps every field). The file's key-value metadata holds
``feishu_workplace.dataset``.

Items are buffered ROW_GROUP_ITEMS at a time and written as one row group each, so memory stays flat
however many items a pull has. pyarrow (the ``[parquet]`` extra) is imported when this module is.
"""

from __future__ import annotations

import datetime as dt
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from airflow_provider_feishu_workplace._compat import task_logger
from airflow_provider_feishu_workplace.endpoints import SearchEndpoint, get_endpoint

#: Items per row group: about a MB of buffered values; readers still get few, dense row groups.
ROW_GROUP_ITEMS = 5_000
COUNTS_TYPE = pa.struct([pa.field("pv", pa.int64(), nullable=False), pa.field("uv", pa.int64(), nullable=False)])
NAMES_TYPE = pa.list_(pa.struct([pa.field("language", pa.string()), pa.field("name", pa.string())]))
LOGGER_NAME = "airflow.task.operators.airflow_provider_feishu_workplace.parquet"
_EPOCH = dt.date(1970, 1, 1).toordinal()  # date32 counts days from 1970-01-01


def parquet_schema(endpoint: SearchEndpoint | str) -> pa.Schema:
    """Return the Parquet schema of a data set's files (see the module's table).

    :param endpoint: the data set's record, or a registered name such as ``"block"``.
    """
    endpoint = get_endpoint(endpoint)
    fields = [pa.field("date", pa.date32(), nullable=False)]
    if endpoint.id_field:
        fields.append(pa.field(endpoint.id_field, pa.string(), nullable=False))
    fields += [pa.field(name, COUNTS_TYPE, nullable=False) for name in endpoint.counts_fields]
    fields += [pa.field(name, NAMES_TYPE, nullable=True) for name in endpoint.name_fields]
    return pa.schema(fields, metadata={"feishu_workplace.dataset": endpoint.name})


class ParquetEncoder:
    """Write items to an open binary file as Parquet, one row group per ROW_GROUP_ITEMS items.

    Items are not kept: each one's values go straight into per-column lists (a date as a day number, the
    counts as ints), a few hundred bytes an item, until the row group is written.

    :param handle: the file the writer owns (left open by :meth:`close`).
    :param endpoint: the data set, which decides the schema.
    """

    def __init__(self, handle: IO[bytes], endpoint: SearchEndpoint | str) -> None:
        self.endpoint = get_endpoint(endpoint)
        self.schema = parquet_schema(self.endpoint)
        self._known = set(self.schema.names)
        self._known |= {f"{name}.{key}" for name in self.endpoint.counts_fields for key in ("pv", "uv")}
        self._known |= {f"{name}[].{key}" for name in self.endpoint.name_fields for key in ("language", "name")}
        self._writer = pq.ParquetWriter(handle, self.schema, compression="snappy")
        self._unknown_seen: set[str] = set()
        self._new_columns()

    def write(self, item: dict[str, Any]) -> None:
        """Buffer one item's values; write a row group when ROW_GROUP_ITEMS are waiting."""
        unknown = (item.keys() | self._nested_keys(item)) - self._known - self._unknown_seen
        if unknown:
            self._unknown_seen |= unknown
            task_logger(LOGGER_NAME).warning(
                "The %s items carry fields %s that the Parquet schema does not name: they are not written "
                "(write JSON Lines to keep every field).",
                self.endpoint.name,
                sorted(unknown),
            )
        self._days.append(dt.date.fromisoformat(item["date"]).toordinal() - _EPOCH)
        if self._ids is not None and self.endpoint.id_field:
            self._ids.append(item[self.endpoint.id_field])
        for name, (pv, uv) in self._counts.items():
            counts = item[name]
            pv.append(counts["pv"])
            uv.append(counts["uv"])
        for name, names in self._names.items():
            names.append(_names(item.get(name)))
        if len(self._days) >= ROW_GROUP_ITEMS:
            self._flush()

    def _nested_keys(self, item: dict[str, Any]) -> set[str]:
        """The keys inside counts objects and name entries, as ``access_data.pv``, ``custom_workplace_name[].name``."""
        keys = {f"{name}.{key}" for name in self._counts for key in item[name]}
        for name in self._names:
            for entry in item.get(name) or ():
                keys.update(f"{name}[].{key}" for key in entry)
        return keys

    def close(self) -> None:
        """Write the last row group and the footer. A file without items still gets its schema."""
        self._flush()
        self._writer.close()

    def discard(self) -> None:
        """Drop the buffered items and close the writer (while its file is still open), for an aborted file."""
        self._new_columns()
        self._writer.close()

    def _new_columns(self) -> None:
        self._days: list[int] = []
        self._ids: list[str] | None = [] if self.endpoint.id_field else None
        self._counts: dict[str, tuple[list[int], list[int]]] = {name: ([], []) for name in self.endpoint.counts_fields}
        self._names: dict[str, list[Any]] = {name: [] for name in self.endpoint.name_fields}

    def _flush(self) -> None:
        if not self._days:
            return
        rows = len(self._days)
        columns = [pa.array(self._days, pa.int32()).cast(pa.date32())]
        if self._ids is not None:
            columns.append(pa.array(self._ids, pa.string()))
        for pv, uv in self._counts.values():
            columns.append(
                pa.StructArray.from_arrays(
                    [pa.array(pv, pa.int64()), pa.array(uv, pa.int64())], fields=list(COUNTS_TYPE)
                )
            )
        for names in self._names.values():
            columns.append(pa.array(names, NAMES_TYPE))
        self._new_columns()
        self._writer.write_table(pa.Table.from_arrays(columns, schema=self.schema), row_group_size=rows)


def _names(names: Any) -> list[dict[str, Any]] | None:
    if names is None:
        return None
    return [{"language": entry.get("language"), "name": entry.get("name")} for entry in names]
