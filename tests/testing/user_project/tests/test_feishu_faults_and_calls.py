import pendulum
from feishu_blocks import dag

from airflow_provider_feishu_workplace.testing import FaultKind, FeishuDouble

YESTERDAY = pendulum.yesterday("UTC").to_date_string()


def test_exact_items_reach_the_task(feishu_connection, feishu_double):
    items = [{"date": YESTERDAY, "block_id": "blk_home", "access_data": {"pv": 12, "uv": 5}}]
    feishu_double.set_items("block", YESTERDAY, items)
    run = dag.test()
    assert run.state == "success"
    assert feishu_double.expected_items("block", YESTERDAY, YESTERDAY) == items


def test_a_day_without_data_fails_the_task(feishu_connection, feishu_double):
    feishu_double.set_items("block", YESTERDAY, [])  # not published yet: Airflow's retries try later
    assert dag.test().state == "failed"


def test_a_transient_error_is_retried_and_a_missing_scope_is_not(feishu_connection, feishu_double):
    feishu_double.inject(FaultKind.INTERNAL_ERROR)  # the endpoint's "internal error, retry" code
    assert dag.test().state == "success"
    assert [call.status for call in feishu_double.calls("block")] == [400, 200]

    feishu_double.reset()  # no faults, calls or tokens left from the first run
    feishu_double.inject(FaultKind.MISSING_SCOPE)  # the app lacks the scope: retrying cannot help
    assert dag.test().state == "failed"
    assert feishu_double.count("block") == 1


def test_what_the_dag_sent(feishu_connection, feishu_double):
    dag.test()
    token_call, block_call = feishu_double.calls("token")[0], feishu_double.calls("block")[0]
    assert token_call.body["app_id"] == feishu_double.app_id
    assert block_call.query == {"from_date": YESTERDAY, "to_date": YESTERDAY, "page_size": "200"}
    assert block_call.headers["authorization"] == "Bearer " + feishu_double.issued_tokens[0]


def test_a_store_app_connection_without_the_fixtures():
    with FeishuDouble(blocks_per_day=2) as double, double.connection_env("feishu_default", app_type="store"):
        run = dag.test()
    assert run.state == "success"
    assert [call.endpoint for call in double.calls("token")] == ["app_access_token", "tenant_access_token"]
