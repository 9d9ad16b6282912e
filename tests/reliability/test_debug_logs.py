"""At DEBUG, a run's log holds no secret the provider masks, and Airflow's own leak is pinned exactly.

``dag.test()`` runs in a subprocess with Airflow's logging level at DEBUG, against the double on loopback,
with a store app (app secret, app ticket, app token, tenant token): a deferrable sensor whose trigger reads
the connection itself, then a pull into a file. On Airflow 3, ``dag.test()``'s in-process supervisor logs
every message the task sends it at DEBUG (``Sending request msg=...``), ``MaskSecret(value=...)`` included.
The provider registers its own masks (the app ticket it reads, every token) without such a message, so no
token appears anywhere. Airflow itself masks a connection's password and extra when a task reads the
connection, through that message: those lines, and only those, show the app secret and the extra (with
the ticket). docs/debug-logs.md documents this; the test fails when Airflow changes it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from airflow_provider_feishu_workplace.testing import FeishuDouble

CANARY_SECRET = "canary-debug-secret-5e1b7c"
CANARY_TICKET = "canary-debug-ticket-9a4d2f"

DAG_RUN = """
import pendulum
from airflow.providers.common.compat.sdk import DAG
from airflow_provider_feishu_workplace.operators.feishu_workplace import FeishuWorkplaceBlockAccessOperator
from airflow_provider_feishu_workplace.sensors.feishu_workplace import FeishuWorkplaceDataSensor

with DAG("debug_logs", schedule="@daily", start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False) as dag:
    wait = FeishuWorkplaceDataSensor(task_id="wait", dataset="block", deferrable=True, poke_interval=1)
    pull = FeishuWorkplaceBlockAccessOperator(
        task_id="pull", output_path="file://{lake}/block/{{{{ ds }}}}.jsonl", hook_params={{"backoff_base": 0.01}}
    )
    wait >> pull

if __name__ == "__main__":
    from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

    day = pendulum.datetime(2026, 11, 20, tz="UTC")
    if not AIRFLOW_V_3_0_PLUS:
        import airflow.providers.fab.auth_manager.models  # noqa: F401 - Airflow 2's dag.test() needs its tables
    run = dag.test(**{{"logical_date" if AIRFLOW_V_3_0_PLUS else "execution_date": day}})
    print("STATES", sorted((ti.task_id, str(ti.state)) for ti in run.get_task_instances()))
"""


def extra(double: FeishuDouble) -> dict[str, str]:
    return {"app_type": "store", "app_ticket_secret": CANARY_TICKET, "tenant_key": double.tenant_key}


@pytest.fixture
def store_app():
    with FeishuDouble(store_app_secret=CANARY_SECRET, app_ticket=CANARY_TICKET) as double:
        yield double


def run_at_debug(double: FeishuDouble, dag_folder, tmp_path) -> str:
    connection = {
        "conn_type": "feishu",
        "host": double.url,
        "login": double.store_app_id,
        "password": CANARY_SECRET,
        "extra": extra(double),
    }
    script = dag_folder.path / "debug_logs.py"  # dag.test() runs DAGs of the configured folder
    script.write_text(textwrap.dedent(DAG_RUN.format(lake=tmp_path / "lake")))
    # As the DAG processor would: Airflow 2.11's and 3.0's dag.test() does not write the DAG and its assets to
    # the metadata database, and 3.0 then fails the pull on its outlet ("inactive assets").
    dag_folder.parse()
    env = {
        **os.environ,
        "AIRFLOW_CONN_FEISHU_DEFAULT": json.dumps(connection),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "DEBUG",
    }
    result = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    return result.stdout + result.stderr


def test_at_debug_no_token_appears_and_only_airflows_own_connection_masks_show_a_secret(
    store_app, dag_folder, tmp_path
):
    from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

    log = run_at_debug(store_app, dag_folder, tmp_path)

    assert "STATES [('pull', 'success'), ('wait', 'success')]" in log, log[-3000:]
    assert len(store_app.issued_tokens) >= 2  # an app token and a tenant token, at least
    assert [token for token in store_app.issued_tokens if token in log] == []
    showing = [line for line in log.splitlines() if CANARY_SECRET in line or CANARY_TICKET in line]
    if not AIRFLOW_V_3_0_PLUS:
        assert showing == []  # Airflow 2 has no supervisor to send masks to
        return
    assert "[debug    ] Sending request" in log  # the supervisor's DEBUG lines are there
    values = [re.search(r"msg=MaskSecret\(value=(.*), name=None, type='MaskSecret'\)", line) for line in showing]
    assert all(values), showing  # every line with a secret is Airflow's MaskSecret message
    values = {value.group(1) for value in values}
    fields = extra(store_app)
    connection_fields = {repr(CANARY_SECRET), repr(json.dumps(fields)), repr(fields)}  # password, extra (text, dict)
    assert values <= connection_fields, values
    assert repr(CANARY_TICKET) not in values  # the provider's own mask of the ticket is not sent
