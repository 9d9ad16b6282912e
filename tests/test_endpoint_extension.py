"""Adding an endpoint takes one record: a made-up fourth endpoint, defined here, pulled through the hook and
an operator with no other change to the package; and the provider's records agree with the double's own
description of the three real endpoints (the double never reads the records, so it can check them)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import re
import textwrap
from pathlib import Path

import pendulum
import pytest

from airflow_provider_feishu_workplace import endpoints
from airflow_provider_feishu_workplace.endpoints import (
    ENDPOINTS,
    WORKPLACE_SCOPE,
    SearchEndpoint,
    get_endpoint,
    register_endpoint,
)
from airflow_provider_feishu_workplace.exceptions import FeishuApiError, FeishuConfigError, FeishuItemError
from airflow_provider_feishu_workplace.hooks.feishu import FeishuHook
from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook
from airflow_provider_feishu_workplace.operators.feishu_workplace import FeishuWorkplaceAccessOperator
from airflow_provider_feishu_workplace.testing import FeishuDouble, ServedDouble
from tests.airflow_versions import run_dag_test
from tests.conftest import task_states

# The fourth endpoint: app usage per workplace app, made up for this test.
APP = SearchEndpoint(
    name="app",
    path="/open-apis/workplace/v1/app_access_data/search",
    max_page_size=50,
    id_field="app_id",
    counts_fields=("access_data", "mobile_access_data"),
    internal_error_code=1630003,
    scope=WORKPLACE_SCOPE,
)
APP_IDS = ["cli_app_a", "cli_app_b", "cli_app_c"]
FIRST, LAST = "2026-10-01", "2026-10-31"
FAST = {"backoff_base": 0.0, "backoff_max": 0.01}


# The double's extension point: it describes the endpoint itself, from the same (made-up) docs.
APP_SPEC = {
    "path": "/open-apis/workplace/v1/app_access_data/search",
    "id_field": "app_id",
    "ids": APP_IDS,
    "counts": ("access_data", "mobile_access_data"),
    "max_page_size": 50,
    "bad_date": 1630001,
    "bad_range": 1630002,
    "internal_error": 1630003,
    "bad_page_token": 1630004,
}
# What a user's DAG file says: the record (as its repr), registered at every parse.
APP_RECORD_SOURCE = f"""
from airflow_provider_feishu_workplace.endpoints import SearchEndpoint, register_endpoint

APP = register_endpoint({APP!r})
"""


def serve_app(double: FeishuDouble | ServedDouble) -> None:
    """Serve the fourth endpoint: in this process, or in a served double through its control API."""
    double.add_endpoint("app", **APP_SPEC)


@pytest.fixture
def app_endpoint(feishu_connection, feishu_double):
    """The record registered with the provider and served by the double; unregistered afterwards."""
    register_endpoint(APP)
    serve_app(feishu_double)
    yield feishu_double
    endpoints.unregister_endpoint("app")


class AppAccessOperator(FeishuWorkplaceAccessOperator):
    """The one operator subclass an endpoint with an id filter wants."""

    dataset = APP
    template_fields = (*FeishuWorkplaceAccessOperator.template_fields, "app_id")

    def __init__(self, *, app_id: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.app_id = app_id

    def item_filters(self):
        return {"item_id": self.app_id or None}


# -- the three real endpoints: provider records and the double's description agree -----------------


@pytest.mark.parametrize("name", ["workplace", "custom_workplace", "block"])
def test_the_providers_record_and_the_doubles_description_agree(feishu_double, name):
    record, spec = ENDPOINTS[name], feishu_double.search_endpoints[name]

    assert (record.path, record.max_page_size, record.id_field) == (spec.path, spec.max_page_size, spec.filter_param)
    assert record.counts_fields == spec.counts_fields
    assert record.internal_error_code == spec.internal_error
    # The fields the record names are exactly those of the items the double serves.
    items = feishu_double.expected_items(name, "2026-10-01", "2026-10-02")
    assert items and all(set(item) == set(record.fields) for item in items)


def test_the_provider_and_the_double_know_the_same_three_endpoints(feishu_double):
    assert set(feishu_double.search_endpoints) == {"workplace", "custom_workplace", "block"} <= set(ENDPOINTS)


# -- a fourth endpoint, added here -------------------------------------------------------------------


def test_a_new_endpoint_is_pulled_through_the_workplace_hook_with_its_filter_and_pages(app_endpoint):
    hook = FeishuWorkplaceHook(**FAST)

    everything = list(hook.iter_access_data("app", FIRST, LAST))
    one_app = list(hook.iter_access_data(APP, FIRST, LAST, item_id="cli_app_b"))

    assert everything == app_endpoint.expected_items("app", FIRST, LAST)
    assert len(everything) == 31 * 3
    assert one_app == app_endpoint.expected_items("app", FIRST, LAST, app_id="cli_app_b")
    pages = app_endpoint.calls("app")
    assert len(pages) == 2 + 1  # 93 items in pages of 50 (the record's maximum), then 31 items
    assert {call.query["page_size"] for call in pages} == {"50"}
    assert pages[-1].query["app_id"] == "cli_app_b"


def test_a_new_endpoints_internal_error_code_is_retried_because_its_record_names_it(app_endpoint):
    app_endpoint.inject("internal_error", endpoint="app", times=2)

    items = list(FeishuWorkplaceHook(**FAST).iter_access_data("app", FIRST, FIRST))

    assert items == app_endpoint.expected_items("app", FIRST, FIRST)
    assert [call.code for call in app_endpoint.calls("app")] == [1630003, 1630003, 0]


def test_a_record_with_a_wrong_internal_error_code_fails_against_the_doubles_own_codes(
    feishu_connection, feishu_double
):
    register_endpoint(dataclasses.replace(APP, internal_error_code=1630005))  # the docs say 1630003
    serve_app(feishu_double)
    try:
        feishu_double.inject("internal_error", endpoint="app")
        with pytest.raises(FeishuApiError, match=r"Feishu refused .*code 1630003") as caught:
            list(FeishuWorkplaceHook(**FAST).iter_access_data("app", FIRST, FIRST))
    finally:
        endpoints.unregister_endpoint("app")

    assert not caught.value.retryable
    assert feishu_double.count("app") == 1


def test_a_new_endpoint_through_the_general_hook_paginate(app_endpoint):
    items = list(
        FeishuHook(**FAST).paginate(APP.path, method="POST", params={"from_date": FIRST, "to_date": LAST}, page_size=40)
    )

    assert items == app_endpoint.expected_items("app", FIRST, LAST)
    assert app_endpoint.count("app") == 3


def test_a_new_endpoints_items_are_checked_by_its_record(app_endpoint):
    app_endpoint.inject("hostile", endpoint="app", mode="missing_field", field="mobile_access_data")

    with pytest.raises(
        FeishuItemError,
        match=r"malformed app item \(date 2026-10-01, app_id 'cli_app_a'\).*"
        r"field mobile_access_data is missing",
    ):
        run_operator(AppAccessOperator(task_id="pull", date=FIRST, hook_params=FAST))


def test_a_new_endpoint_through_an_operator_subclass_defined_in_the_test(app_endpoint):
    items = run_operator(AppAccessOperator(task_id="pull", date=FIRST, app_id="cli_app_c", hook_params=FAST))

    assert items == app_endpoint.expected_items("app", FIRST, FIRST, app_id="cli_app_c")
    assert [call.query["app_id"] for call in app_endpoint.calls("search")] == ["cli_app_c"]


def test_a_new_endpoint_through_the_base_operators_dataset_argument(app_endpoint):
    operator = FeishuWorkplaceAccessOperator(task_id="pull", date=FIRST, dataset="app", hook_params=FAST)

    assert run_operator(operator) == app_endpoint.expected_items("app", FIRST, FIRST)
    assert operator.outlets[0].uri == "feishu-workplace://feishu_default/app"


def test_a_new_endpoint_in_a_dag_run_by_airflow(app_endpoint, dag_folder, tmp_path):
    received = tmp_path / "received.json"
    source = APP_RECORD_SOURCE + textwrap.dedent(
        f"""
        import json
        import pendulum
        from airflow.providers.common.compat.sdk import DAG, task
        from airflow_provider_feishu_workplace.operators.feishu_workplace import FeishuWorkplaceAccessOperator

        with DAG("app_usage", schedule="@daily", start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False):
            pull = FeishuWorkplaceAccessOperator(task_id="pull", dataset=APP, hook_params={FAST!r})

            @task
            def receive(value):
                with open({str(received)!r}, "w", encoding="utf-8") as handle:
                    json.dump(value, handle)

            receive(pull.output)
        """
    )
    dag = dag_folder.load(source, "app_usage")

    run = run_dag_test(dag, logical_date=pendulum.datetime(2026, 10, 2, tz="UTC"))

    assert task_states(run) == {"pull": "success", "receive": "success"}
    assert json.loads(received.read_text()) == app_endpoint.expected_items("app", FIRST, FIRST)


APP_SENSOR_DAG = "app_wait"
APP_SENSOR_DAG_SOURCE = (
    APP_RECORD_SOURCE
    + f"""
import pendulum
from airflow.providers.common.compat.sdk import DAG
from airflow_provider_feishu_workplace.sensors.feishu_workplace import FeishuWorkplaceDataSensor

with DAG({APP_SENSOR_DAG!r}, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False):
    FeishuWorkplaceDataSensor(
        task_id="wait", dataset=APP, date={FIRST!r}, deferrable=True, poke_interval=1, timeout=300
    )
"""
)


def test_a_new_endpoints_trigger_carries_its_record_to_a_process_that_never_registered_it(app_endpoint):
    from airflow_provider_feishu_workplace.triggers.feishu_workplace import FeishuWorkplaceDataTrigger

    _, kwargs = FeishuWorkplaceDataTrigger(feishu_conn_id="feishu_default", date=FIRST, dataset=APP).serialize()
    stored = json.loads(json.dumps(kwargs))
    endpoints.unregister_endpoint("app")  # the triggerer never parsed the DAG file that registered it
    try:
        event = asyncio.run(anext(FeishuWorkplaceDataTrigger(**stored).run())).payload
    finally:
        register_endpoint(APP)

    assert stored["endpoint"] == APP.to_dict() and SearchEndpoint.from_dict(stored["endpoint"]) == APP
    assert (event["status"], event["dataset"]) == ("published", "app"), event
    assert app_endpoint.calls("app")[-1].query["page_size"] == "1"


@pytest.mark.slow
def test_a_new_endpoints_deferrable_sensor_waits_in_a_real_triggerer(tmp_path):
    """The DAG file registers the record; the triggerer never parses it, and the day is published late."""
    from tests.triggers.real_airflow import airflow, log_tails, real_deployment

    def prepare(served: ServedDouble) -> None:
        serve_app(served)
        served.publish_at(FIRST, None)  # held back until the sensor waits in the triggerer

    with real_deployment(tmp_path, {"app_wait.py": APP_SENSOR_DAG_SOURCE}, prepare) as deployment:
        db, served = deployment.db, deployment.served
        airflow(deployment.env, "dags", "trigger", APP_SENSOR_DAG)

        def deferred_and_checked() -> bool:
            state = db.task_state(APP_SENSOR_DAG)
            assert state not in ("failed", "up_for_retry"), f"the sensor ended {state}\n{log_tails(deployment.logs)}"
            return state == "deferred" and len(served.requests("app")) >= 3

        # The worker's first check finds nothing and defers; the triggerer's checks of "app" follow.
        deployment.wait_for("the sensor did not defer and get checked by the triggerer", deferred_and_checked)
        deployment.mark("deferred")
        served.publish_at(FIRST, 0)
        deployment.wait_for("the run did not succeed", lambda: db.run_state(APP_SENSOR_DAG) in ("success", "failed"))
        deployment.mark("finished")
        state, checks = db.task_state(APP_SENSOR_DAG), served.requests("app")
        assert state == "success", f"the sensor ended {state}\n{log_tails(deployment.logs)}"

    assert {request["query"]["page_size"] for request in checks} == {"1"}
    assert checks[-1]["query"]["from_date"] == FIRST and checks[-1]["code"] == 0
    assert "is unknown" not in deployment.triggerer_log()
    print(deployment.report())


# -- unknown names are errors, never a default -------------------------------------------------------


def test_an_unknown_data_set_is_an_error_naming_the_known_ones():
    with pytest.raises(FeishuConfigError, match=r"dataset='apps' is unknown: use one of \['block', 'custom_workplace'"):
        get_endpoint("apps")
    with pytest.raises(FeishuConfigError, match="dataset='apps' is unknown"):
        FeishuWorkplaceAccessOperator(task_id="pull", dataset="apps")


NO_CODE = {"internal_error_code": None, "scope": WORKPLACE_SCOPE}


def test_another_record_under_a_registered_name_or_path_is_refused():
    with pytest.raises(FeishuConfigError, match="named 'block' is registered already"):
        register_endpoint(SearchEndpoint("block", "/open-apis/x/v1/search", 10, None, ("access_data",), **NO_CODE))
    with pytest.raises(FeishuConfigError, match="is registered already, as 'block'"):
        register_endpoint(SearchEndpoint("blocks", ENDPOINTS["block"].path, 10, None, ("access_data",), **NO_CODE))
    assert register_endpoint(ENDPOINTS["block"]) is ENDPOINTS["block"]  # the same record again: a no-op


def run_operator(operator) -> object:
    """Run ``execute`` as a worker would for a task with a fixed ``date`` (no data interval needed)."""
    return operator.execute({"dag": None, "dag_run": None, "outlet_events": None, "ds": dt.date.today().isoformat()})


def test_a_real_endpoint_needs_one_spec_in_the_doubles_description(monkeypatch):
    """A fourth endpoint added to the package: the double serves it from its SearchSpec alone."""
    from airflow_provider_feishu_workplace.testing import SearchSpec, _search

    monkeypatch.setitem(
        _search.SPECS,
        "app",
        SearchSpec(
            "app",
            APP.path,
            1630001,
            1630002,
            1630003,
            1630004,
            None,
            50,
            "app_id",
            ("access_data", "mobile_access_data"),
        ),
    )
    with FeishuDouble() as double, double.connection_env():
        spec = double.search_endpoints["app"]
        assert (spec.path, spec.max_page_size, spec.filter_param) == (APP.path, APP.max_page_size, APP.id_field)
        items = list(FeishuWorkplaceHook(**FAST).iter_access_data(APP, FIRST, LAST))

    assert items == double.expected_items("app", FIRST, LAST)
    assert len(items) == 31 * 3 and all(set(item) == set(APP.fields) for item in items)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "App Usage"}, "name='App Usage' must be lower-case letters"),
        ({"path": "https://open.feishu.cn/open-apis/x"}, "must start with /open-apis/"),
        ({"max_page_size": 0}, "max_page_size=0 must be a whole number"),
        ({"counts_fields": "access_data"}, "counts_fields='access_data' must be a tuple"),
        ({"counts_fields": ()}, "needs at least one counts field"),
        ({"internal_error_code": "1630003"}, "internal_error_code='1630003' must be the endpoint's code"),
        ({"scope": ""}, "scope='' must name the app scope"),
    ],
    ids=["name", "path", "page-size", "counts-not-a-tuple", "no-counts", "error-code-not-a-number", "no-scope"],
)
def test_a_record_checks_itself_when_built(fields, message):
    good = {"name": "app", "path": APP.path, "max_page_size": 50, "id_field": "app_id", "counts_fields": ("a",)}
    good.update(internal_error_code=1630003, scope=WORKPLACE_SCOPE)

    with pytest.raises(FeishuConfigError, match=re.escape(message)):
        SearchEndpoint(**{**good, **fields})


@pytest.mark.parametrize("missing", ["internal_error_code", "scope"])
def test_a_record_names_its_error_code_and_scope_with_no_default(missing):
    fields = {"name": "app", "path": APP.path, "max_page_size": 50, "id_field": "app_id", "counts_fields": ("a",)}
    fields.update(internal_error_code=None, scope=WORKPLACE_SCOPE)
    del fields[missing]

    with pytest.raises(TypeError, match=missing):
        SearchEndpoint(**fields)


def test_an_operator_subclass_without_its_own_record_fails_when_defined():
    with pytest.raises(FeishuConfigError, match="ForgetfulOperator names no data set"):

        class ForgetfulOperator(FeishuWorkplaceAccessOperator):
            def item_filters(self):
                return {"item_id": "cli_app_a"}

    class WorkplaceOperator(FeishuWorkplaceAccessOperator):  # a subclass that names it pulls it
        dataset = "workplace"

    class AppOperator(AppAccessOperator):  # a subclass of one that names a record inherits it
        pass

    assert (WorkplaceOperator.dataset, AppOperator.dataset) == ("workplace", APP)


def test_no_module_of_the_package_restates_an_endpoints_facts():
    """Paths and internal-error codes appear in the record (and the double's own description) only."""
    package = Path(endpoints.__file__).parent
    real = [ENDPOINTS[name] for name in ("workplace", "custom_workplace", "block")]
    facts = [str(record.internal_error_code) for record in real] + [record.path.split("/v1/")[1] for record in real]
    for source in package.rglob("*.py"):
        if source.name == "endpoints.py" or "testing" in source.relative_to(package).parts:
            continue
        text = source.read_text()
        assert not [fact for fact in facts if fact in text], source
