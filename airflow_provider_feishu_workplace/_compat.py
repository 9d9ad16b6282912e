"""What differs between Airflow 2.11 and 3.x in the provider's runtime code, in one place.

Everything else imports Airflow through ``airflow.providers.common.compat``; this module holds only what
that package does not smooth over. It is loaded at every DAG parse, so it imports nothing heavy.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

__all__ = ["AIRFLOW_V_3_0_PLUS", "make_asset", "task_logger"]


def make_asset(*, name: str, uri: str, group: str) -> Any:
    """Return an ``Asset`` on Airflow 3, a ``Dataset`` with the same URI on Airflow 2.

    Airflow 2's datasets have a URI only, so ``name`` and ``group`` apply on Airflow 3; DAGs scheduled
    on the returned object match the operators' outlets on both.
    """
    from airflow.providers.common.compat.sdk import Asset  # Dataset on Airflow 2

    if AIRFLOW_V_3_0_PLUS:
        return Asset(name=name, uri=uri, group=group)
    return Asset(uri=uri)


def task_logger(name: str) -> Any:
    """Return a logger that writes to the running task's log (structlog's on Airflow 3, logging's on 2)."""
    if AIRFLOW_V_3_0_PLUS:
        import structlog  # the task runner already loaded it; imported here to keep DAG parsing cheap

        return structlog.get_logger(name)
    import logging

    return logging.getLogger(name)  # Airflow 2 sends the airflow.task.* loggers to the task's log
