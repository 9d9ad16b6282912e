"""FeishuWorkplaceDataSensor run by real Airflow (``dag.test()``) against the double, in every mode."""

from __future__ import annotations

import textwrap
import threading
import time

import pendulum
import pytest

from tests.airflow_versions import (
    RESCHEDULE_SENSORS_RUN_IN_DAG_TEST,
    executor_safeguard,
    run_dag_test,
    skip_unless,
)
from tests.conftest import task_states

DAY = "2026-11-19"
# A daily UTC run at this logical date covers DAY: the sensor waits for it by the operators' rule.
LOGICAL_DATE = pendulum.datetime(2026, 11, 20, tz="UTC")


def sensor_dag(dag_id: str, sensor_args: str) -> str:
    """A DAG: the sensor, then a task that would pull (it only records that it ran)."""
    return textwrap.dedent(
        f"""
        import pendulum
        from airflow.providers.common.compat.sdk import DAG, task
        from airflow_provider_feishu_workplace.sensors.feishu_workplace import FeishuWorkplaceDataSensor

        with DAG({dag_id!r}, schedule="@daily", start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False):
            wait = FeishuWorkplaceDataSensor(
                task_id="wait", hook_params={{"backoff_base": 0.01, "max_attempts": 2}}, {sensor_args}
            )

            @task
            def pull():
                return "pulled"

            wait >> pull()
        """
    )


@pytest.fixture
def run_sensor(dag_folder, feishu_conn):
    def run(dag_id: str, sensor_args: str, *, publish_in: float | None = -1) -> tuple[dict[str, str], float]:
        """Run the DAG. DAY is published ``publish_in`` seconds after the sensor's first check (None: never,
        -1: published already): the first check always finds it missing, whatever the start-up takes."""
        dag = dag_folder.load(sensor_dag(dag_id, sensor_args), dag_id)
        publisher = None
        if publish_in != -1:
            feishu_conn.publish_at(DAY, None)
            if publish_in is not None:
                publisher = threading.Thread(target=publish_after_first_check, args=(feishu_conn, publish_in))
                publisher.start()
        started = time.monotonic()
        try:
            dag_run = run_dag_test(dag, logical_date=LOGICAL_DATE)
        finally:
            if publisher is not None:
                publisher.join()
        return task_states(dag_run), time.monotonic() - started

    return run


def publish_after_first_check(double, seconds: float) -> None:
    deadline = time.monotonic() + 120
    while not double.count("workplace") and time.monotonic() < deadline:
        time.sleep(0.05)
    double.publish_at(DAY, seconds)


def skip_if_reschedule_cannot_run(mode_args: str) -> None:
    if "reschedule" in mode_args:
        skip_unless(RESCHEDULE_SENSORS_RUN_IN_DAG_TEST, "dag.test() cannot run a rescheduled sensor (airflow_versions)")


#: A test run with the sensor in each of its modes (its arguments for the DAG file).
EVERY_MODE = pytest.mark.parametrize(
    "mode_args",
    [
        pytest.param('mode="poke", deferrable=False', id="poke"),
        pytest.param('mode="reschedule", deferrable=False', id="reschedule"),
        pytest.param("deferrable=True", id="deferrable"),
    ],
)


def sensor_checks(double) -> list[tuple[str, str, str]]:
    return [(r.query["from_date"], r.query["to_date"], r.query["page_size"]) for r in double.calls("workplace")]


@EVERY_MODE
def test_waits_until_the_double_publishes_the_day_mid_wait(run_sensor, feishu_conn, mode_args):
    skip_if_reschedule_cannot_run(mode_args)
    states, seconds = run_sensor("sensor_mid_wait", f"poke_interval=1, timeout=60, {mode_args}", publish_in=2.5)

    assert states == {"wait": "success", "pull": "success"}
    assert seconds >= 2.5  # it did wait for the publication
    assert feishu_conn.is_published(DAY)
    checks = sensor_checks(feishu_conn)
    assert len(checks) >= 2  # not published at the first check, published at a later one
    assert set(checks) == {(DAY, DAY, "1")}  # one cheap request per check: one item of that day


@EVERY_MODE
def test_runs_its_checks_as_its_own_task_not_as_a_nested_operator(run_sensor, feishu_conn, monkeypatch, mode_args):
    # Airflow's guard against an operator's execute() run from another's is off in unit-test mode: on here.
    # On Airflow 2.11 a sensor whose execute() calls super().execute() trips it at every run (issue 21); with
    # allow_nested_operators=False that fails the task.
    skip_if_reschedule_cannot_run(mode_args)
    monkeypatch.setattr(executor_safeguard(), "test_mode", False)
    states, _ = run_sensor(
        "sensor_not_nested", f"poke_interval=1, timeout=60, allow_nested_operators=False, {mode_args}", publish_in=1
    )

    assert states == {"wait": "success", "pull": "success"}
    assert len(sensor_checks(feishu_conn)) >= 2


def test_a_published_day_passes_at_the_first_check(run_sensor, feishu_conn):
    states, _ = run_sensor("sensor_published", "poke_interval=1, timeout=60, deferrable=True")

    assert states == {"wait": "success", "pull": "success"}
    assert sensor_checks(feishu_conn) == [(DAY, DAY, "1")]


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_bad_credentials_fail_at_once_without_waiting(run_sensor, feishu_conn, monkeypatch, deferrable):
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", feishu_conn.connection(password="wrong-secret"))
    states, seconds = run_sensor(
        "sensor_bad_credentials", f"poke_interval=30, timeout=60, deferrable={deferrable}", publish_in=None
    )

    assert states == {"wait": "failed", "pull": "upstream_failed"}
    # Failed before a poke interval passed; a wide one, as dag.test() alone took over 5 s on Airflow 3.0 under load.
    assert seconds < 30
    assert feishu_conn.count("search") == 0
    assert feishu_conn.count("token") == 1  # a rejected secret is not retried


@EVERY_MODE
def test_times_out_as_configured(run_sensor, feishu_conn, mode_args):
    skip_if_reschedule_cannot_run(mode_args)
    states, seconds = run_sensor("sensor_timeout", f"poke_interval=1, timeout=3, {mode_args}", publish_in=None)

    assert states == {"wait": "failed", "pull": "upstream_failed"}
    assert 3 <= seconds < 30
    assert len(sensor_checks(feishu_conn)) >= 2


def test_soft_fail_skips_after_the_timeout_in_deferrable_mode(run_sensor, feishu_conn):
    states, _ = run_sensor(
        "sensor_soft_fail", "poke_interval=1, timeout=2, soft_fail=True, deferrable=True", publish_in=None
    )

    assert states == {"wait": "skipped", "pull": "skipped"}


def test_transient_faults_are_retried_by_the_hook(run_sensor, feishu_conn):
    feishu_conn.inject("server_error", endpoint="workplace", times=1)

    states, _ = run_sensor("sensor_transient", "poke_interval=1, timeout=60, deferrable=True", publish_in=1.5)

    assert states == {"wait": "success", "pull": "success"}
    assert [call.status for call in feishu_conn.calls("workplace")][:2] == [500, 200]


def test_explicit_date_is_templated(run_sensor, feishu_conn):
    states, _ = run_sensor("sensor_date", 'date="{{ macros.ds_add(ds, -3) }}", poke_interval=1, timeout=10')

    assert states == {"wait": "success", "pull": "success"}
    assert sensor_checks(feishu_conn) == [("2026-11-17", "2026-11-17", "1")]


def tomorrow_utc() -> str:
    return pendulum.now("UTC").add(days=1).to_date_string()


@pytest.mark.parametrize(
    ("sensor_args", "logical_date", "refused"),
    [
        pytest.param('date="2099-01-01", deferrable=True', LOGICAL_DATE, "date=2099-01-01", id="2099-deferrable"),
        pytest.param('date="2099-01-01", mode="poke"', LOGICAL_DATE, "date=2099-01-01", id="2099-poke"),
        pytest.param(
            "deferrable=True",
            pendulum.datetime(2099, 1, 2, tz="UTC"),
            "date=2099-01-01",
            id="run-in-2099-by-its-interval",
        ),
        pytest.param(
            f'date="{tomorrow_utc()}", timeout=60, deferrable=True',
            LOGICAL_DATE,
            f"date={tomorrow_utc()}",
            id="tomorrow-beyond-a-minute",
        ),
    ],
)
def test_a_day_that_cannot_end_before_the_timeout_is_refused_at_once(
    dag_folder, feishu_conn, capsys, sensor_args, logical_date, refused
):
    dag = dag_folder.load(sensor_dag("sensor_odd_day", f"retries=2, poke_interval=1, {sensor_args}"), "sensor_odd_day")
    capsys.readouterr()
    started = time.monotonic()

    states = task_states(run_dag_test(dag, logical_date=logical_date))

    log = capsys.readouterr().out
    assert states["wait"] == "failed"  # not up_for_retry: no wait makes a day end sooner
    assert time.monotonic() - started < 60
    assert refused in log and "after this sensor's timeout of" in log and "raise timeout" in log
    assert feishu_conn.calls("workplace") == []


def test_deferred_checks_that_keep_failing_fail_the_task_at_the_bound_named(run_sensor, feishu_conn, capsys):
    # The worker's first check finds nothing; every check from the triggerer then meets a 500 (after the
    # hook's 2 attempts): the wait goes on through one failed check and ends at the second.
    feishu_conn.inject("server_error", endpoint="workplace", skip=1, times=None)
    args = "poke_interval=0.2, timeout=60, deferrable=True, max_failed_checks=2, check_timeout=60, check_rate_share=0.5"

    states, _ = run_sensor("sensor_failed_checks", args, publish_in=None)

    assert states == {"wait": "failed", "pull": "upstream_failed"}
    assert "2 checks in a row failed (max_failed_checks=2)" in capsys.readouterr().out
    assert [call.status for call in feishu_conn.calls("workplace")] == [200, 500, 500, 500, 500]


@pytest.mark.parametrize(
    ("arguments", "named"),
    [({"check_timeout": -1}, "check_timeout=-1"), ({"max_failed_checks": 1.5}, "max_failed_checks=1.5")],
)
def test_bad_wait_arguments_fail_the_dag_file(arguments, named):
    from airflow_provider_feishu_workplace.exceptions import FeishuConfigError
    from airflow_provider_feishu_workplace.sensors.feishu_workplace import FeishuWorkplaceDataSensor

    with pytest.raises(FeishuConfigError, match=named):
        FeishuWorkplaceDataSensor(task_id="wait", **arguments)
