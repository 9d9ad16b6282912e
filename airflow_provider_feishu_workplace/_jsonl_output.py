"""Write items as JSON Lines so that readers, and other writers of the same path, see one whole file.

The atomic-file mechanics (a temporary file of the writer's own, ``os.replace`` or one ``put``, stale-temp
cleanup) live in :mod:`airflow_provider_feishu_workplace._output`, shared with the Parquet writer; this
module keeps the JSON Lines entry point and the names its callers import.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from airflow_provider_feishu_workplace._output import (
    LOCAL_PROTOCOLS,
    STALE_AFTER_SECONDS,
    TEMP_SUFFIX,
    check_writable,
    open_output,
    remove_stale_temps,
    temp_prefix,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

__all__ = [
    "LOCAL_PROTOCOLS",
    "STALE_AFTER_SECONDS",
    "TEMP_SUFFIX",
    "check_writable",
    "remove_stale_temps",
    "temp_prefix",
    "write_jsonl_atomically",
]


def write_jsonl_atomically(target: ObjectStoragePath, items: Iterable[dict[str, Any]]) -> int:
    """Stream ``items`` into a temporary file of this writer, then put it in place of ``target`` in one step.

    If reading ``items`` fails, the temporary file is removed and ``target`` keeps its old content.

    :param target: where the file ends up.
    :param items: JSON-serialisable dicts, written one a line, UTF-8, non-ASCII kept as text.
    :return: the number of lines written.
    """
    with open_output(target, "jsonl") as output:
        for item in items:
            output.write(item)
        return output.commit()
