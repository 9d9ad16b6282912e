"""What differs between the supported Airflow versions (2.11, 3.0 to 3.3) for the tests and the demo, in one place.

Tests call these helpers instead of branching on the version themselves; a test that cannot apply to a
version skips through :func:`skip_unless` with a reason naming the version.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path
from typing import Any

from airflow.providers.common.compat.version_compat import get_base_airflow_version_tuple

from airflow_provider_feishu_workplace._compat import (
    AIRFLOW_V_3_0_PLUS,
    AIRFLOW_V_3_1_PLUS,
    AIRFLOW_V_3_2_PLUS,
    AIRFLOW_V_3_3_PLUS,
)

AIRFLOW_VERSION = ".".join(str(part) for part in get_base_airflow_version_tuple())
BUNDLE_NAME = "dags-folder"
# `airflow connections test` exits 1 on a failed test from Airflow 3.3; before, it prints
# "Connection failed!" and exits 0 (the README says how to read it there).
CONNECTIONS_TEST_FAILURE_EXIT_CODE = 1 if AIRFLOW_V_3_3_PLUS else 0
# Airflow 3 can run a DAG without a logical date (and so without a data interval); Airflow 2 cannot.
RUNS_WITHOUT_LOGICAL_DATE = AIRFLOW_V_3_0_PLUS
_UNSET: Any = object()
# What `airflow api-server` needs in its environment: Airflow 3.0 signs its tokens with an empty issuer unless
# one is configured, which PyJWT 2.11 and later refuse ("Issuer (iss) must be a string"); constraints pin
# an older PyJWT for 3.0, and this keeps the tests right with a newer one too.
API_SERVER_ENV = {"AIRFLOW__API_AUTH__JWT_ISSUER": "airflow"} if AIRFLOW_V_3_0_PLUS and not AIRFLOW_V_3_1_PLUS else {}
# Airflow 3.0's dag.test() hands a sensor rescheduled once its first reschedule date as a string, and the
# sensor's timeout check fails with "TypeError: unsupported operand type(s) for -: 'datetime.datetime' and
# 'str'" (seen in CI on 3.0.6, not on 2.11 or 3.1+); reschedule-mode waits are tested on the other versions.
RESCHEDULE_SENSORS_RUN_IN_DAG_TEST = not (AIRFLOW_V_3_0_PLUS and not AIRFLOW_V_3_1_PLUS)
# A deferrable sensor of Airflow's own, for a trigger beside the provider's: core's on Airflow 2, the standard
# provider's on Airflow 3.
DATE_TIME_SENSOR_ASYNC = (
    ("airflow.providers.standard.sensors.date_time" if AIRFLOW_V_3_0_PLUS else "airflow.sensors.date_time"),
    "DateTimeSensorAsync",
)
# Airflow 2's UI is a Flask app whose connection form is built from the hooks' classmethods.
FLASK_CONNECTION_FORM = not AIRFLOW_V_3_0_PLUS
# The class of the operators' outlets, and the table of their events: Airflow 2 calls assets datasets.
OUTLET_CLASS_NAME = "Asset" if AIRFLOW_V_3_0_PLUS else "Dataset"
ASSET_EVENT_TABLE = "asset_event" if AIRFLOW_V_3_0_PLUS else "dataset_event"


def skip_unless(condition: bool, why: str) -> None:
    """Skip the calling test unless ``condition`` holds; the reason names the running Airflow version."""
    if not condition:
        import pytest

        pytest.skip(f"Airflow {AIRFLOW_VERSION}: {why}")


def executor_safeguard() -> type:
    """The class that checks an operator's ``execute()`` runs inside its task; ``test_mode`` turns it off.

    Airflow 2's is in ``airflow.models.baseoperator``, Airflow 3's in the task SDK. Both read ``test_mode``
    from ``[core] unit_test_mode`` when first imported (on in the tests' environment).
    """
    if AIRFLOW_V_3_0_PLUS:
        from airflow.sdk.bases.operator import ExecutorSafeguard
    else:
        from airflow.models.baseoperator import ExecutorSafeguard
    return ExecutorSafeguard


def real_airflow_services(api_port: int) -> tuple[dict[str, str], list[tuple[str, list[str]]]]:
    """What a real Airflow deployment on SQLite needs: its environment and its ``airflow`` services, in order.

    Airflow 2.11: the scheduler (which parses the DAG files and runs tasks with the SequentialExecutor, the
    one it allows on SQLite) and the triggerer. Airflow 3: the API server first (tasks fetch their
    connections and report through it), the scheduler with the LocalExecutor (allowed on SQLite from 3.0)
    and the triggerer; ``airflow dags reserialize`` stands in for the DAG processor. No log server is
    started (``--skip-serve-logs``): they bind every interface.
    """
    services = [("scheduler", ["scheduler", "--skip-serve-logs"]), ("triggerer", ["triggerer", "--skip-serve-logs"])]
    if not AIRFLOW_V_3_0_PLUS:
        return {"AIRFLOW__CORE__EXECUTOR": "SequentialExecutor"}, services
    api = f"http://127.0.0.1:{api_port}"
    env = {
        **API_SERVER_ENV,
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": api,
        # One secret for every process, not one each: the API server checks the tokens the others sign.
        "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
    }
    return env, [("api-server", ["api-server", "--workers", "1"]), *services]


def parse_dag_folder(folder: Path):
    """Parse ``folder`` as Airflow's DAG processor does (the folder on ``sys.path``) and return the DagBag.

    Where ``dag.test()`` does not write the DAGs to the metadata database itself (Airflow 2.11 and 3.0), the
    parsed DAGs are written here, so their assets exist and the runs' outlets record asset events.
    """
    if AIRFLOW_V_3_2_PLUS:
        from airflow.dag_processing.dagbag import BundleDagBag

        return BundleDagBag(dag_folder=str(folder), bundle_path=folder, bundle_name=BUNDLE_NAME)
    if AIRFLOW_V_3_1_PLUS:
        from airflow.models.dagbag import BundleDagBag

        return BundleDagBag(dag_folder=str(folder), bundle_path=folder)
    from airflow.models.dagbag import DagBag

    if str(folder) not in sys.path:  # what BundleDagBag does from 3.1: DAG files import their neighbours
        sys.path.append(str(folder))
    if AIRFLOW_V_3_0_PLUS:
        bag = DagBag(dag_folder=str(folder), include_examples=False, bundle_path=folder)
        if not bag.import_errors:
            _ensure_bundle_row()
            bag.sync_to_db(BUNDLE_NAME, None)
        return bag
    bag = DagBag(dag_folder=str(folder), include_examples=False)
    if not bag.import_errors:
        bag.sync_to_db()
    return bag


def run_dag_test(dag, *, logical_date: Any = _UNSET, run_conf: dict[str, Any] | None = None):
    """Run ``dag.test()`` and return the DagRun; without ``logical_date``, a run as of now.

    ``logical_date=None`` (a run without a logical date or data interval) needs Airflow 3: skip first
    with ``skip_unless(RUNS_WITHOUT_LOGICAL_DATE, ...)``. Airflow 2 calls the logical date ``execution_date``.
    """
    if AIRFLOW_V_3_0_PLUS:
        _configure_task_logging()
        kwargs = {} if logical_date is _UNSET else {"logical_date": logical_date}
        return dag.test(run_conf=run_conf, **kwargs)
    if logical_date is None:
        raise ValueError(f"Airflow {AIRFLOW_VERSION} runs always have a logical date: skip this test here.")
    # Airflow 2's dag.test() deletes an earlier run of the same date, and the ORM then needs the table of the
    # FAB users that run notes refer to: load its model (a fresh process, like the demo's, has not).
    import airflow.providers.fab.auth_manager.models  # noqa: F401

    return dag.test(execution_date=None if logical_date is _UNSET else logical_date, run_conf=run_conf)


def _configure_task_logging() -> None:
    """Log the in-process task runs of ``dag.test()`` as a worker does: INFO and up, plain tracebacks.

    Where nothing configured structlog in the test process (Airflow 3.0 to 3.2), its defaults print DEBUG
    lines (the task runner's own messages, which echo secrets it asks to mask) and draw tracebacks in boxes
    that wrap an exception's message across lines.
    """
    import logging

    import structlog

    if structlog.is_configured():
        return
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.StackInfoRenderer(),
            structlog.dev.set_exc_info,
            structlog.processors.TimeStamper(fmt="%Y-%m-%d %H:%M:%S", utc=False),
            structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
    )


def prepare_concurrent_task_tests(dag, logical_dates: list[str]) -> list[str]:
    """Get ``dag`` ready for one ``airflow tasks test <dag> <task> <date>`` process per date, all at once.

    ``tasks test`` without a DAG run for the date makes a temporary one and deletes it when it ends; on
    Airflow 3 it first deletes any run of that logical date. Processes sharing a date would delete each
    other's runs, so on Airflow 3 every process gets a date of its own (the operator's ``date`` decides
    what is pulled). Airflow 2.11 does not delete on start, but the first process to end would take the
    others' run with it: there they share one real run of the first date, made here.

    :return: the date to pass to each process.
    """
    if AIRFLOW_V_3_0_PLUS:
        return list(logical_dates)
    _create_running_run_airflow_2(dag, logical_dates[0])
    return [logical_dates[0]] * len(logical_dates)


def _create_running_run_airflow_2(dag, day: str) -> None:
    import pendulum
    from airflow.models.dagrun import DagRun
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunType

    logical_date = pendulum.parse(day, tz="UTC")
    dag.create_dagrun(
        run_id=DagRun.generate_run_id(DagRunType.MANUAL, logical_date),
        execution_date=logical_date,
        data_interval=dag.timetable.infer_manual_data_interval(run_after=logical_date),
        state=DagRunState.RUNNING,
        run_type=DagRunType.MANUAL,
        external_trigger=True,
    )


def _ensure_bundle_row() -> None:
    """Airflow 3.0: the DAG rows refer to their bundle, which only the DAG processor registers."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    DagBundlesManager().sync_bundles_to_db()


def asset_events(source_dag_id: str) -> list[Any]:
    """Return the asset events (dataset events on Airflow 2) that runs of ``source_dag_id`` recorded."""
    from airflow.utils.session import create_session
    from sqlalchemy.orm import joinedload

    if AIRFLOW_V_3_0_PLUS:
        from airflow.models.asset import AssetEvent as Event

        target = Event.asset
    else:
        from airflow.models.dataset import DatasetEvent as Event

        target = Event.dataset
    with create_session() as session:
        events = session.query(Event).options(joinedload(target)).filter(Event.source_dag_id == source_dag_id).all()
        session.expunge_all()
    return events


def triggering_events_kwargs(events: list[Any]) -> dict[str, Any]:
    """The keyword argument a task of a run these events triggered receives them in, built as Airflow does.

    Airflow 3: ``triggering_asset_events``, its accessor keyed by Asset. Airflow 2:
    ``triggering_dataset_events``, a dict keyed by the Dataset's URI.

    :param events: events from :func:`asset_events`.
    """
    if not AIRFLOW_V_3_0_PLUS:
        by_uri: dict[str, list[Any]] = {}
        for event in events:
            by_uri.setdefault(event.dataset.uri, []).append(event)
        return {"triggering_dataset_events": by_uri}
    from airflow.sdk.execution_time.comms import AssetEventDagRunReferenceResult
    from airflow.sdk.execution_time.context import TriggeringAssetEventsAccessor

    references = [
        AssetEventDagRunReferenceResult(
            asset={"name": event.asset.name, "uri": event.asset.uri, "extra": event.asset.extra or {}},
            extra=event.extra,
            source_task_id=event.source_task_id,
            source_dag_id=event.source_dag_id,
            source_run_id=event.source_run_id,
            source_map_index=event.source_map_index,
            source_aliases=[],
            timestamp=event.timestamp,
        )
        for event in events
    ]
    return {"triggering_asset_events": TriggeringAssetEventsAccessor.build(references)}


def scheduled_on(dag) -> list[Any]:
    """Return the assets (datasets on Airflow 2) that an asset-scheduled DAG waits for."""
    timetable = dag.timetable
    condition = timetable.asset_condition if AIRFLOW_V_3_0_PLUS else timetable.dataset_condition
    return list(condition.objects)


def set_paused(dag_id: str, paused: bool) -> None:
    """Pause or unpause a DAG in the metadata database (the scheduler ignores paused DAGs' assets)."""
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(DagModel).filter(DagModel.dag_id == dag_id).update({"is_paused": paused})


def clear_asset_queue(dag_id: str) -> None:
    """Forget the asset events (dataset events on Airflow 2) that wait to start ``dag_id``: the metadata database
    is shared by every test of one pytest(-xdist) process, so earlier tests' runs may have queued some."""
    from airflow.utils.session import create_session

    if AIRFLOW_V_3_0_PLUS:
        from airflow.models.asset import AssetDagRunQueue as Queue
    else:
        from airflow.models.dataset import DatasetDagRunQueue as Queue
    with create_session() as session:
        session.query(Queue).filter(Queue.target_dag_id == dag_id).delete()


def asset_triggered_dag_ids() -> set[str]:
    """Return the DAGs the scheduler would start now because every asset they wait for was updated."""
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        # The second value holds the asset-triggered ones only (the query also has DAGs due by the clock).
        _, triggered = DagModel.dags_needing_dagruns(session)
        return set(triggered)


def fab_connection_form_available() -> bool:
    """Whether this Airflow builds connection forms from hook classmethods (needs wtforms and FAB).

    From 3.2 Airflow reads the fields from provider info instead, so the form is always there.
    """
    if AIRFLOW_V_3_2_PLUS:
        return True
    try:
        import flask_appbuilder  # noqa: F401
        import wtforms  # noqa: F401
    except ImportError:
        return False
    return True


# Airflow 3 refuses an asset URI its provider's handler rejects; Airflow 2.11 only warns ("not AIP-60
# compliant") and keeps the URI, unless [core] strict_dataset_uri_validation is on.
STRICT_ASSET_URI_ENV = {} if AIRFLOW_V_3_0_PLUS else {"AIRFLOW__CORE__STRICT_DATASET_URI_VALIDATION": "True"}
ASSET_URI_REFUSAL_WARNS = not AIRFLOW_V_3_0_PLUS
