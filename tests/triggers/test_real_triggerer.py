"""The deferrable sensor under a real ``airflow triggerer``, beside another trigger (issue 21).

``dag.test()`` runs triggers in its own process; here a real deployment does (tests/triggers/real_airflow.py):
the scheduler, the triggerer (and on Airflow 3 the API server) as separate processes, the Feishu double
served from its command line.

The Feishu sensor defers while its day is not published; a ``DateTimeSensorAsync`` then defers beside it.
The triggerer must survive the Feishu trigger's checks (on Airflow 3.0 the trigger runner died 1-3 s after
taking it), fire the other trigger on time, and the Feishu sensor must succeed once the day is published.
"""

from __future__ import annotations

import datetime as dt
import importlib
import time

import pytest

from tests.airflow_versions import DATE_TIME_SENSOR_ASYNC
from tests.triggers.real_airflow import airflow, log_tails, real_deployment

DAY = "2026-11-19"
FEISHU_DAG, TIMER_DAG = "real_triggerer_feishu", "real_triggerer_timer"
# The other sensor waits this long from when its task renders its target time (its moment, read back from
# the rendered fields) to the moment itself.
TIMER_SECONDS = 10
# How late the other trigger may fire (the triggerer's loop and the test's polling included).
ON_TIME = 5.0

FEISHU_DAG_SOURCE = f"""
import pendulum
from airflow.providers.common.compat.sdk import DAG
from airflow_provider_feishu_workplace.sensors.feishu_workplace import FeishuWorkplaceDataSensor

# deferrable is left to [operators] default_deferrable, as in the report of issue 21.
with DAG({FEISHU_DAG!r}, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False):
    FeishuWorkplaceDataSensor(task_id="wait", date={DAY!r}, poke_interval=1, timeout=300)
"""
TIMER_DAG_SOURCE = f"""
import pendulum
from airflow.providers.common.compat.sdk import DAG
from {DATE_TIME_SENSOR_ASYNC[0]} import {DATE_TIME_SENSOR_ASYNC[1]} as DateTimeSensorAsync

with DAG({TIMER_DAG!r}, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False):
    DateTimeSensorAsync(
        task_id="wait",
        target_time="{{{{ (macros.datetime.utcnow() + macros.timedelta(seconds={TIMER_SECONDS})).isoformat() }}}}",
    )
"""


@pytest.mark.slow
def test_the_triggerer_survives_the_feishu_trigger_and_fires_the_one_beside_it(tmp_path):
    importlib.import_module(DATE_TIME_SENSOR_ASYNC[0])  # the other sensor exists in this Airflow
    dag_files = {"feishu_wait.py": FEISHU_DAG_SOURCE, "timer.py": TIMER_DAG_SOURCE}

    # The day is held back until the test publishes it.
    with real_deployment(tmp_path, dag_files, lambda served: served.publish_at(DAY, None)) as deployment:
        env, served, db, logs, processes = (
            deployment.env, deployment.served, deployment.db, deployment.logs, deployment.processes
        )  # fmt: skip
        airflow(env, "dags", "trigger", FEISHU_DAG)

        # The worker's first check finds nothing and defers; the triggerer's checks follow, one a second.
        deployment.wait_for(
            "the Feishu sensor did not defer and get checked by the triggerer",
            lambda: db.task_state(FEISHU_DAG) == "deferred" and len(served.requests("workplace")) >= 3,
        )
        deployment.mark("feishu deferred")
        airflow(env, "dags", "trigger", TIMER_DAG)

        # Watch the other sensor: deferred before its moment, out of deferral (fired) on time.
        deferred_at = fired_at = fire_at = None
        checks = {}
        deadline = time.monotonic() + 120
        while fired_at is None and time.monotonic() < deadline:
            state = db.task_state(TIMER_DAG)
            if state == "deferred" and deferred_at is None and (moment := db.moment(TIMER_DAG)):
                deferred_at, fire_at = dt.datetime.now(dt.UTC), moment
                checks["deferred"] = len(served.requests("workplace"))
            elif deferred_at is not None and state != "deferred":
                fired_at = dt.datetime.now(dt.UTC)
                checks["fired"] = len(served.requests("workplace"))
            time.sleep(0.1)
        triggerer_alive = processes["triggerer"].poll() is None
        assert fired_at is not None, f"the other trigger did not fire\n{log_tails(logs)}"
        assert deferred_at < fire_at, f"the other sensor deferred after its moment {fire_at}\n{log_tails(logs)}"
        lateness = (fired_at - fire_at).total_seconds()
        assert -0.5 <= lateness <= ON_TIME, f"the other trigger fired {lateness:.1f} s late\n{log_tails(logs)}"
        assert triggerer_alive, f"the triggerer exited\n{log_tails(logs)}"
        deployment.mark("other fired")

        served.publish_at(DAY, 0)  # published late: long after the Feishu sensor deferred
        deployment.wait_for(
            "both runs did not succeed",
            lambda: db.run_state(FEISHU_DAG) == "success" and db.run_state(TIMER_DAG) == "success",
        )
        deployment.mark("feishu succeeded")
        assert processes["triggerer"].poll() is None, f"the triggerer exited\n{log_tails(logs)}"
        triggerer_log = deployment.triggerer_log()

    assert db.task_state(FEISHU_DAG) == "success"
    assert db.task_state(TIMER_DAG) == "success"
    # The Feishu trigger kept checking, a check a second, the whole time the other trigger waited.
    waited = (fired_at - deferred_at).total_seconds()
    assert checks["fired"] - checks["deferred"] >= waited / 2, (checks, waited)
    for sign_of_a_crash in ("has died", "different loop", "out of order"):
        assert sign_of_a_crash not in triggerer_log, triggerer_log[-3000:]
    print(deployment.report())
