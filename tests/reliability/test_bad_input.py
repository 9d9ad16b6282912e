"""Bad input from users, at every layer: each gets an error naming the value and the fix, before any request.

Hook arguments, connection fields, hook settings, operator parameters (at parse time and once rendered)
and the example DAGs' configuration. Where nothing could be written, nothing is.
"""

from __future__ import annotations

import sys

import pendulum
import pytest

from airflow_provider_feishu_workplace.exceptions import FeishuConfigError
from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook
from tests.airflow_versions import run_dag_test
from tests.conftest import connection_json

FROM, TO = "2026-01-01", "2026-01-31"
DATE_FIX = "use 'YYYY-MM-DD'"
PAGE_FIX = "use a whole number from 1 to"

HOOK_CALLS = [
    pytest.param(lambda h: h.iter_workplace_access_data("2026-13-01", TO), "2026-13-01", DATE_FIX, id="month-13"),
    pytest.param(lambda h: h.iter_workplace_access_data("2026-02-30", TO), "2026-02-30", DATE_FIX, id="feb-30"),
    pytest.param(lambda h: h.iter_workplace_access_data("2026/01/01", TO), "2026/01/01", DATE_FIX, id="slashes"),
    pytest.param(lambda h: h.iter_workplace_access_data("20260101", TO), "20260101", DATE_FIX, id="compact"),
    pytest.param(lambda h: h.iter_workplace_access_data("", TO), "''", DATE_FIX, id="empty-date"),
    pytest.param(lambda h: h.iter_workplace_access_data(None, TO), "None", "pass a 'YYYY-MM-DD' string", id="none"),
    pytest.param(lambda h: h.iter_workplace_access_data(20260101, TO), "20260101", "pass a 'YYYY-MM-DD'", id="int"),
    pytest.param(lambda h: h.iter_workplace_access_data(FROM, "next week"), "next week", DATE_FIX, id="words"),
    pytest.param(
        lambda h: h.iter_workplace_access_data("2026-01-03", "2026-01-02"), "2026-01-03", "swap", id="reversed"
    ),
    pytest.param(lambda h: h.iter_workplace_access_data(FROM, TO, page_size=0), "page_size=0", PAGE_FIX, id="page-0"),
    pytest.param(lambda h: h.iter_workplace_access_data(FROM, TO, page_size=201), "201", PAGE_FIX, id="page-201"),
    pytest.param(lambda h: h.iter_workplace_access_data(FROM, TO, page_size="50"), "'50'", PAGE_FIX, id="page-str"),
    pytest.param(lambda h: h.iter_workplace_access_data(FROM, TO, page_size=True), "True", PAGE_FIX, id="page-bool"),
    pytest.param(
        lambda h: h.iter_custom_workplace_access_data(FROM, TO, page_size=101), "101", PAGE_FIX, id="custom-101"
    ),
    pytest.param(
        lambda h: h.iter_workplace_block_access_data(FROM, TO, block_id=""), "block_id", "non-empty", id="empty-id"
    ),
    pytest.param(lambda h: h.iter_access_data("blocks", FROM, TO), "blocks", "use one of", id="unknown-dataset"),
    pytest.param(
        lambda h: h.iter_access_data("workplace", FROM, TO, item_id="x"), "'x'", "takes no", id="id-on-workplace"
    ),
]


@pytest.mark.parametrize("call, bad_value, fix", HOOK_CALLS)
def test_bad_hook_argument_is_refused_before_any_request(make_hook, feishu_conn, call, bad_value, fix):
    with pytest.raises(ValueError) as caught:
        call(make_hook())

    assert bad_value in str(caught.value) and fix in str(caught.value)
    assert feishu_conn.requests == []


CONNECTION_FIELDS = [
    pytest.param({"login": ""}, "no App ID", "login field", id="no-app-id"),
    pytest.param({"login": "   "}, "no App ID", "login field", id="blank-app-id"),
    pytest.param({"password": None}, "no App Secret", "password field", id="no-app-secret"),
    pytest.param({"password": ""}, "no App Secret", "password field", id="empty-app-secret"),
    pytest.param(
        {"extra": {"app_type": "isv"}}, "app_type='isv'", "use 'self_built' or 'store'", id="unknown-app-type"
    ),
    pytest.param({"extra": {"app_type": "store", "app_ticket": "x"}}, "no tenant_key", "extras", id="store-no-tenant"),
    # A store app needs no static ticket: the pushed one is read from the store (tests/store_apps).
    pytest.param({"extra": {"app_type": "store"}}, "no tenant_key", "extras", id="store-no-tenant-nor-ticket"),
    pytest.param({"host": "ftp://open.feishu.cn"}, "ftp://open.feishu.cn", "use an https origin", id="ftp-scheme"),
    pytest.param({"host": "http://open.feishu.cn"}, "plain http", "use https", id="http-real-host"),
    pytest.param({"host": "https://open.feishu.cn?x=1"}, "x=1", "scheme://host", id="host-with-query"),
    pytest.param(
        {"host": "https://me:pw@open.feishu.cn"},
        "https://***@open.feishu.cn",
        "no credentials",
        id="host-with-credentials",
    ),
    pytest.param(
        {"host": "http://me:pw@open.feishu.cn"},
        "http://***@open.feishu.cn",
        "use https",
        id="http-host-with-credentials",
    ),
    pytest.param(
        {"host": "ftp://me:pw@open.feishu.cn"},
        "ftp://***@open.feishu.cn",
        "https origin",
        id="ftp-host-with-credentials",
    ),
]


@pytest.mark.parametrize("overrides, names, fix", CONNECTION_FIELDS)
def test_bad_connection_field_is_refused_before_any_request(feishu_double, monkeypatch, overrides, names, fix):
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection_json(feishu_double, **overrides))

    with pytest.raises(FeishuConfigError) as caught:
        FeishuWorkplaceHook().iter_workplace_access_data(FROM, TO)

    assert "'feishu_default'" in str(caught.value)
    assert names in str(caught.value) and fix in str(caught.value)
    assert "me:pw" not in str(caught.value)
    assert feishu_double.requests == []


def test_a_missing_connection_names_the_conn_id(feishu_double):
    with pytest.raises(Exception, match="feishu_nowhere"):
        FeishuWorkplaceHook("feishu_nowhere").iter_workplace_access_data(FROM, TO)

    assert feishu_double.requests == []


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"timeout": 0}, id="timeout-0"),
        pytest.param({"max_attempts": 0}, id="attempts-0"),
        pytest.param({"requests_per_second": -1}, id="negative-rate"),
        pytest.param({"backoff_base": "1"}, id="backoff-str"),
    ],
)
def test_bad_hook_setting_is_refused_at_construction(kwargs):
    name, value = next(iter(kwargs.items()))

    with pytest.raises(ValueError, match=f"{name}={value!r} must be"):
        FeishuWorkplaceHook(**kwargs)


OPERATOR_PARAMETERS = [
    pytest.param({"timezone": "Mars/Olympus"}, "timezone='Mars/Olympus'", "IANA name", id="bad-timezone"),
    pytest.param({"on_empty_day": "retry"}, "on_empty_day='retry'", "use one of", id="bad-empty-policy"),
    pytest.param({"max_xcom_records": 0}, "max_xcom_records=0", "at least 1", id="xcom-cap-0"),
    pytest.param({"max_xcom_records": True}, "max_xcom_records=True", "at least 1", id="xcom-cap-bool"),
    pytest.param({"max_xcom_bytes": 0}, "max_xcom_bytes=0", "at least 1", id="xcom-bytes-0"),
    pytest.param({"max_xcom_bytes": 1.5}, "max_xcom_bytes=1.5", "at least 1", id="xcom-bytes-float"),
    pytest.param({"max_xcom_bytes": "1MB"}, "max_xcom_bytes='1MB'", "at least 1", id="xcom-bytes-text"),
]


@pytest.mark.parametrize("kwargs, names, fix", OPERATOR_PARAMETERS)
def test_bad_operator_parameter_fails_the_dag_at_parse_time(kwargs, names, fix):
    from airflow_provider_feishu_workplace.operators.feishu_workplace import FeishuWorkplaceAccessOperator

    with pytest.raises(ValueError) as caught:
        FeishuWorkplaceAccessOperator(task_id="pull", **kwargs)

    assert names in str(caught.value) and fix in str(caught.value)


RENDERED_PARAMETERS = [
    pytest.param('date="{{ ds_nodash }}"', "date='20261120' is not a valid date", id="template-renders-garbage"),
    pytest.param('date="2026-11-31"', "date='2026-11-31' is not a valid date", id="impossible-date"),
    pytest.param(f'date="{pendulum.now("UTC").add(days=3).to_date_string()}"', "has not ended yet", id="future-date"),
    pytest.param(
        'output_path="nosuchfs://bucket/x.jsonl"',
        "output_path='nosuchfs://bucket/x.jsonl' cannot be opened",
        id="unknown-scheme",
    ),
    pytest.param('output_path="file:///tmp/feishu-bad-input/"', "names a folder", id="output-is-a-folder"),
]


@pytest.mark.parametrize("operator_args, message", RENDERED_PARAMETERS)
def test_bad_rendered_parameter_fails_the_task_before_any_request(
    run_dag, feishu_conn, tmp_path, operator_args, message
):
    run = run_dag("bad_rendered", pendulum.datetime(2026, 11, 20, tz="UTC"), operator_args=operator_args)

    assert run.states["pull"] == "failed"
    assert message in run.log
    assert feishu_conn.requests == []


def test_bad_timezone_in_the_dag_configuration_names_the_variable(dag_folder, monkeypatch):
    monkeypatch.setenv("FEISHU_WORKPLACE_TIMEZONE", "Mars/Olympus")
    sys.modules.pop("feishu_workplace_config", None)
    dag_folder.add_example_dags()

    errors = "".join(dag_folder.parse().import_errors.values())

    assert "FEISHU_WORKPLACE_TIMEZONE='Mars/Olympus' is not a known time zone" in errors
    sys.modules.pop("feishu_workplace_config", None)


def test_bad_lake_uri_in_the_dag_configuration_fails_before_any_request(dag_folder, feishu_conn, monkeypatch, capsys):
    monkeypatch.setenv("FEISHU_WORKPLACE_LAKE", "nosuchfs://lake")
    sys.modules.pop("feishu_workplace_config", None)
    dag_folder.add_example_dags()
    extract = dag_folder.parse().get_dag("feishu_workplace_extract")
    for task in extract.tasks:
        task.retries = 0

    dag_run = run_dag_test(extract, logical_date=pendulum.datetime(2026, 10, 2, 6, tz="Asia/Shanghai"))

    states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
    # The sensor's one check of publication is the only search: the pulls fail before asking anything.
    assert states == {
        "wait_for_publication": "success",
        "workplace": "failed",
        "custom_workplace": "failed",
        "block": "failed",
    }
    assert (
        "output_path='nosuchfs://lake/workplace_access/dt=2026-10-01/part.jsonl' cannot be opened"
        in capsys.readouterr().out
    )
    assert feishu_conn.count("search") == 1
    sys.modules.pop("feishu_workplace_config", None)
