"""The example extract's sensor waits deferred in the live stack's triggerer (issue 21), for ``make e2e``.

The stages of tests/e2e/test_live_pipeline.py share one stack that its last test stops, so this stage is a
function that test module runs before that (``test_the_example_sensor_waits_deferred_in_the_triggerer``):
a day the double holds back is requested with a manual run of the example extract; its sensor must be
deferred, waiting in the triggerer on a ``FeishuWorkplaceDataTrigger`` that checks the double from there.
The day is then published and the sensor cleared (the example checks every 10 minutes at first, too
long to wait here): the run must finish like any other, and the stage's report says what it saw.
"""

from __future__ import annotations

import time

from tests.e2e import live

SENSOR = "wait_for_publication"
TRIGGER_CLASS = "airflow_provider_feishu_workplace.triggers.feishu_workplace.FeishuWorkplaceDataTrigger"


def sensor_deferred_stage(live_stack: live.LiveStack, day: str) -> str:
    """Run the stage for ``day`` (a day no other stage pulls); return its line for the report."""
    double = live_stack.double
    double.publish_at(day, None)
    run_id = live_stack.trigger(live.EXTRACT, {"day": day}, f"e2e_deferred_{day}_{int(time.time())}")

    def checks_of_the_day() -> int:
        return sum(1 for r in double.requests("workplace", limit=10_000) if r["query"].get("from_date") == day)

    def deferred_and_checked_by_the_triggerer():
        rows = live_stack.query(
            "SELECT ti.state, t.classpath, t.triggerer_id FROM task_instance ti LEFT JOIN trigger t "
            "ON ti.trigger_id = t.id WHERE ti.dag_id = %s AND ti.run_id = %s AND ti.task_id = %s",
            (live.EXTRACT, run_id, SENSOR),
        )
        assert rows, f"no {SENSOR} task instance in run {run_id} yet"
        state, classpath, triggerer_id = rows[0]
        checks = checks_of_the_day()
        # The worker's first check found nothing and deferred; the triggerer's first check follows at once.
        assert state == "deferred" and classpath == TRIGGER_CLASS and triggerer_id is not None and checks >= 2, (
            f"{SENSOR} is {state}, trigger {classpath} on triggerer {triggerer_id}, {checks} checks of {day}"
        )
        return checks

    began = time.monotonic()
    checks = live.wait_for(
        "the sensor deferred, checked from the triggerer", deferred_and_checked_by_the_triggerer, 240
    )
    deferred_after = time.monotonic() - began
    pulled = [
        ti["task_id"]
        for ti in live_stack.task_instances(live.EXTRACT)
        if ti["run_id"] == run_id and ti["task_id"] in live.PULL_TASKS and ti["start_date"]
    ]
    assert not pulled, f"pulls started while the day was held back: {pulled}"

    double.publish_at(day, 0)
    live_stack.rest(
        "POST",
        f"/api/v2/dags/{live.EXTRACT}/clearTaskInstances",
        {"dry_run": False, "dag_run_id": run_id, "task_ids": [SENSOR], "only_failed": False, "reset_dag_runs": True},
    )

    def run_succeeded():
        (run,) = [r for r in live_stack.runs(live.EXTRACT) if r["run_id"] == run_id]
        assert run["state"] == "success", f"run {run_id} is {run['state']}"
        return run

    live.wait_for("the run after publication", run_succeeded, timeout=300)
    return (
        f"sensor deferred: {SENSOR} for {day} (held back) was deferred {deferred_after:.0f} s after its run was "
        f"triggered, waiting in the triggerer on FeishuWorkplaceDataTrigger ({checks} checks of the day, the "
        "worker's and the triggerer's); published, cleared, the run succeeded"
    )
