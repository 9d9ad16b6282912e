"""Sensor tests on Airflow 2.11: dag.test() checks a sensor's reschedule dependency through the default executor."""

from __future__ import annotations

import pytest
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS


@pytest.fixture(autouse=True)
def sqlite_capable_executor(monkeypatch):
    """Airflow 2.11: make the default executor one that accepts the tests' SQLite database.

    2.11's ReadyToRescheduleDep loads the default executor class for every sensor task instance, and the
    airflow.cfg that ``airflow db migrate`` wrote names LocalExecutor, which refuses SQLite. Airflow 3's
    dag.test() runs tasks in process and never asks.
    """
    if AIRFLOW_V_3_0_PLUS:
        yield
        return
    from airflow.executors import executor_loader

    caches = (
        executor_loader._executor_names,
        executor_loader._alias_to_executors,
        executor_loader._module_to_executors,
        executor_loader._classname_to_executors,
    )
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "SequentialExecutor")
    for cache in caches:
        cache.clear()  # the loader caches the executor names it read first
    yield
    for cache in caches:
        cache.clear()
