"""The every-tenant DAG under ``dag.test()``: a mapped pull per tenant and data set, a load keyed by tenant,
one stopped tenant failing alone, and asset events per tenant (also for a templated connection id)."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import textwrap
from contextlib import closing

import pendulum
import pytest

from airflow_provider_feishu_workplace._compat import NESTED_ALIAS_EVENT_EXTRA
from tests.airflow_versions import asset_events, run_dag_test
from tests.conftest import expected_jsonl
from tests.dag_runs import examples  # noqa: F401 - fixture
from tests.dags.test_example_dags import expected_rows

DAY = "2026-10-01"
TENANTS = ("tenant_a1", "tenant_b2", "tenant_c3")
DATASETS = ("workplace", "custom_workplace", "block")
TABLES = {
    "workplace": "feishu_workplace_access",
    "custom_workplace": "feishu_custom_workplace_access",
    "block": "feishu_block_access",
}


@pytest.fixture
def store(examples, dag_folder, monkeypatch):
    """The example DAGs, a store-app connection ``feishu_store`` (no tenant_key extra), three tenants installed
    at the double and active in the receiver's registry; ``run()`` runs the tenants DAG for DAY."""
    from airflow.models.variable import Variable

    from airflow_provider_feishu_workplace.store_apps._keys import tenants_key
    from airflow_provider_feishu_workplace.store_apps.tenants import record_tenant_event

    double = examples.double
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_STORE", double.connection("store", extra={"tenant_key": None}))
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    for tenant_key in TENANTS:
        double.set_tenant(tenant_key)
        record_tenant_event(double.store_app_id, tenant_key, "app_open", since)
    dag = dag_folder.load(None, "feishu_workplace_tenants")

    def run() -> dict[tuple[str, int], str]:
        interval_end = pendulum.parse(DAY, tz="Asia/Shanghai").add(days=1, hours=6)
        examples.run_started = dt.datetime.now(dt.UTC)
        dag_run = run_dag_test(dag, logical_date=interval_end)
        return {(ti.task_id, ti.map_index): str(ti.state) for ti in dag_run.get_task_instances()}

    examples.run_tenants = staticmethod(run)
    yield examples
    Variable.delete(tenants_key(double.store_app_id))


def warehouse_rows(examples, table: str) -> list[tuple]:
    with closing(sqlite3.connect(examples.lake_dir.parent / "warehouse.db")) as db:
        return db.execute(f"SELECT * FROM {table}_by_tenant ORDER BY 1, 2, 3").fetchall()


def expected_warehouse(double, table: str, tenants) -> list[tuple]:
    rows = expected_rows(double, DAY)[table]
    return sorted((row[0], tenant_key, *row[1:]) for tenant_key in tenants for row in rows)


def lake_file(examples, tenant_key: str, dataset: str):
    return examples.lake_dir / f"tenant={tenant_key}/{dataset}_access/dt={DAY}/part.jsonl"


def pull_states(states, dataset: str) -> list[str]:
    return [state for (task_id, _), state in sorted(states.items()) if task_id == f"pull_{dataset}"]


def test_every_active_tenant_is_pulled_into_its_own_lake_folder_and_loaded_keyed_by_tenant(store):
    states = store.run_tenants()

    assert set(states.values()) == {"success"}
    for dataset in DATASETS:
        assert len(pull_states(states, dataset)) == len(TENANTS)
        for tenant_key in TENANTS:
            assert lake_file(store, tenant_key, dataset).read_bytes() == expected_jsonl(store.double, dataset, DAY)
        table = TABLES[dataset]
        assert warehouse_rows(store, table) == expected_warehouse(store.double, table, TENANTS)


def test_a_tenant_whose_admin_stopped_the_app_fails_alone_and_the_others_load(store):
    stopped = TENANTS[1]
    store.double.set_tenant(stopped, enabled=False)  # the stop_by_tenant event has not reached the registry yet

    states = store.run_tenants()

    for dataset in DATASETS:
        # Map indexes follow the registry's sorted tenant keys.
        assert pull_states(states, dataset) == ["success", "failed", "success"]
        assert states[(f"load_{dataset}", -1)] == "success"
        assert not lake_file(store, stopped, dataset).exists()
        table = TABLES[dataset]
        assert warehouse_rows(store, table) == expected_warehouse(store.double, table, [TENANTS[0], TENANTS[2]])


def test_a_tenant_stopped_in_the_registry_is_not_mapped_at_all(store):
    from airflow_provider_feishu_workplace.store_apps.tenants import record_tenant_event

    record_tenant_event(store.double.store_app_id, TENANTS[0], "stop_by_tenant", dt.datetime.now(dt.UTC))

    states = store.run_tenants()

    assert set(states.values()) == {"success"}
    assert len(pull_states(states, "block")) == 2
    assert {row[1] for row in warehouse_rows(store, "feishu_block_access")} == set(TENANTS[1:])


def test_each_tenants_pull_records_an_event_on_the_apps_asset_with_its_tenant(store):
    store.run_tenants()

    # Earlier tests' runs of the DAG recorded events in the same database, on Airflow 2.11 with the same run id
    # (its dag.test() replaces the run of the same date): this run's only.
    events = [e for e in asset_events("feishu_workplace_tenants") if e.timestamp >= store.run_started]
    by_uri: dict[str, list] = {}
    for event in events:
        by_uri.setdefault(_uri(event), []).append(event)
    assert sorted(by_uri) == sorted(f"feishu-workplace://feishu_store/{dataset}" for dataset in DATASETS)
    for dataset in DATASETS:
        extras = by_uri[f"feishu-workplace://feishu_store/{dataset}"]
        assert sorted(event.extra["tenant_key"] for event in extras) == sorted(TENANTS)
        for event in extras:
            path = str(lake_file(store, event.extra["tenant_key"], dataset))
            days = {DAY: f"file://{path}"}
            # Before Airflow 3.1.2 an alias event's extra is flat: its days map comes as JSON text.
            assert event.extra["days"] == (days if NESTED_ALIAS_EVENT_EXTRA else json.dumps(days))
            assert event.extra["dataset"] == dataset


def test_a_templated_connection_and_tenant_record_their_event_on_the_rendered_asset(store, dag_folder):
    source = textwrap.dedent(
        f"""
        import pendulum
        from airflow.providers.common.compat.sdk import DAG
        from airflow_provider_feishu_workplace.operators.feishu_workplace import FeishuWorkplaceBlockAccessOperator

        with DAG("templated_store_pull", schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False,
                 params={{"conn": "feishu_store", "tenant": "{TENANTS[2]}"}}):
            FeishuWorkplaceBlockAccessOperator(
                task_id="pull",
                feishu_conn_id="{{{{ params.conn }}}}",
                tenant_key="{{{{ params.tenant }}}}",
                date="{DAY}",
                hook_params={{"backoff_base": 0.01}},
            )
        """
    )
    dag = dag_folder.load(source, "templated_store_pull")
    assert [type(outlet).__name__ for outlet in dag.get_task("pull").outlets] in (["AssetAlias"], ["DatasetAlias"])

    dag_run = run_dag_test(dag, logical_date=pendulum.datetime(2026, 10, 3, tz="UTC"))

    assert {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()} == {"pull": "success"}
    (event,) = [e for e in asset_events("templated_store_pull") if e.source_run_id == dag_run.run_id]
    assert _uri(event) == "feishu-workplace://feishu_store/block"
    assert event.extra["tenant_key"] == TENANTS[2]
    assert event.extra["items"] == len(store.double.expected_items("block", DAY, DAY))


def test_the_single_tenant_pull_keeps_its_asset_declared_at_parse_time():
    from airflow_provider_feishu_workplace.operators.feishu_workplace import (
        FeishuWorkplaceAccessOperator,
        feishu_access_asset,
    )

    pull = FeishuWorkplaceAccessOperator(task_id="pull", feishu_conn_id="feishu_default")

    assert pull.outlets == [feishu_access_asset("workplace", "feishu_default")]


def test_a_tenant_key_that_is_not_one_fails_before_anything_is_written(store, dag_folder):
    from airflow_provider_feishu_workplace.exceptions import FeishuConfigError
    from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook

    with pytest.raises(FeishuConfigError, match=r"tenant_key='\.\./x' is not a tenant key"):
        FeishuWorkplaceHook("feishu_store", tenant_key="../x").settings  # noqa: B018
    with pytest.raises(FeishuConfigError, match="is a self_built app"):
        FeishuWorkplaceHook("feishu_default", tenant_key=TENANTS[0]).settings  # noqa: B018


def _uri(event) -> str:
    return (event.asset if hasattr(event, "asset") else event.dataset).uri
