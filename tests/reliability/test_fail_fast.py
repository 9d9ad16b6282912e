"""What waiting cannot fix fails the task at once; the output target is checked before the pull.

Each error class says whether a rerun can help (``rerun_can_help``); one function,
``exceptions.raise_for_task``, translates that into ``AirflowFailException`` for every task type. Every
case runs a real DAG through ``dag.test()`` with ``retries=3``: a task that fails at once sends its
requests once, not four times.
"""

from __future__ import annotations

import inspect
import socket
import time

import pendulum
import pytest

from airflow_provider_feishu_workplace import exceptions
from airflow_provider_feishu_workplace.exceptions import (
    FeishuConfigError,
    FeishuError,
    FeishuOutputError,
    raise_for_task,
)
from tests.loopback import ScriptedServer, connection, send
from tests.reliability.test_tls import untrusted_https_server  # noqa: F401 - fixture
from tests.s3_fixtures import BUCKET, FAKE_AWS_ENV, aws_connection, s3_bucket, s3_server  # noqa: F401

LOGICAL_DATE = pendulum.datetime(2026, 11, 20, tz="UTC")
RETRIES = "retries=3, retry_delay=pendulum.duration(seconds=0)"

RERUN_CAN_HELP = {
    "FeishuError": False,
    "FeishuConfigError": False,
    "FeishuOutputError": True,
    "FeishuOutputBlockedError": False,
    "FeishuNoDataYetError": True,
    "FeishuApiError": True,
    "FeishuCredentialsError": False,
    "FeishuPermissionError": False,
    "FeishuQuotaError": False,
    "FeishuNotFoundError": False,
    "FeishuTLSError": False,
    "FeishuRedirectError": False,
    "FeishuTransientError": True,
    "FeishuRateLimitError": True,
    "FeishuTokenInvalidError": True,
    "FeishuProtocolError": True,
    "FeishuItemError": True,
}


def test_every_error_class_is_a_feishu_error_that_says_whether_a_rerun_can_help():
    classes = {
        name: value
        for name, value in vars(exceptions).items()
        if inspect.isclass(value) and issubclass(value, BaseException)
    }
    assert {name: cls.rerun_can_help for name, cls in classes.items()} == RERUN_CAN_HELP
    assert all(issubclass(cls, FeishuError) for cls in classes.values())
    assert issubclass(FeishuConfigError, ValueError)  # as it always was


def test_an_error_no_rerun_can_fix_becomes_airflow_fail_exception_chained_to_it():
    from airflow.providers.common.compat.sdk import AirflowFailException

    error = FeishuConfigError("timezone='Mars/Base' is not a known time zone")
    with pytest.raises(AirflowFailException, match="Mars/Base") as caught:
        raise_for_task(error)

    assert caught.value.__cause__ is error


def test_an_error_a_rerun_may_fix_is_raised_as_itself_for_airflows_retries():
    from airflow.providers.common.compat.sdk import AirflowFailException

    error = FeishuOutputError("the store is down")
    with pytest.raises(FeishuOutputError) as caught:
        raise_for_task(error)

    assert caught.value is error and not isinstance(caught.value, AirflowFailException)


@pytest.mark.parametrize(("rerun_can_help", "expected"), [(True, "AirflowException"), (False, "AirflowFailException")])
def test_a_triggers_error_message_is_raised_by_its_classes_answer(rerun_can_help, expected):
    with pytest.raises(Exception, match="quota used up") as caught:
        raise_for_task("quota used up", rerun_can_help=rerun_can_help)

    assert type(caught.value).__name__ == expected


def test_the_hooks_own_retries_are_decided_by_the_error_class_alone():
    api_errors = {
        name: cls
        for name, cls in vars(exceptions).items()
        if inspect.isclass(cls) and issubclass(cls, exceptions.FeishuApiError)
    }

    retried = {name for name, cls in api_errors.items() if cls.retryable}

    assert retried == {"FeishuTransientError", "FeishuRateLimitError"}
    assert "retryable" not in inspect.signature(exceptions.FeishuApiError).parameters


def test_the_operator_module_keeps_no_list_of_retryable_errors():
    from airflow_provider_feishu_workplace.operators import feishu_workplace

    assert not hasattr(feishu_workplace, "NOT_RETRYABLE")


def not_found(handler, request):
    send(handler, 404, b"404 page not found", {"Content-Type": "text/plain"})


def test_a_wrong_base_url_fails_the_task_at_once(run_dag, feishu_conn, monkeypatch):
    with ScriptedServer(not_found) as wrong:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection(wrong.url + "/not-the-api"))
        run = run_dag("wrong_base_url", LOGICAL_DATE, operator_args=RETRIES)

    assert run.states["pull"] == "failed"
    assert "was not found (not JSON, so not the Feishu API): check the connection's Base URL" in run.log
    assert len(wrong.requests) == 1


def test_a_certificate_that_fails_verification_fails_the_task_at_once(
    run_dag,
    feishu_conn,
    untrusted_https_server,
    monkeypatch,
):
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection(untrusted_https_server))
    started = time.monotonic()
    run = run_dag("untrusted", LOGICAL_DATE, operator_args=RETRIES)

    assert run.states["pull"] == "failed"
    assert "TLS verification failed" in run.log
    assert time.monotonic() - started < 30


@pytest.mark.parametrize(
    "hook_params, named",
    [
        pytest.param('{"timout": 5}', "['timout']", id="misspelt"),
        pytest.param('{"feishu_conn_id": "other"}', "['feishu_conn_id']", id="conn-id-twice"),
        pytest.param('{"verify": False, "retries": 2}', "['retries', 'verify']", id="two-unknown"),
    ],
)
def test_an_unknown_hook_params_key_fails_the_task_at_once_naming_it(run_dag, feishu_conn, hook_params, named):
    run = run_dag("bad_hook_params", LOGICAL_DATE, operator_args=RETRIES, hook_params=hook_params)

    assert run.states["pull"] == "failed"
    assert f"hook_params has unknown keys {named}" in run.log
    assert "'backoff_base', 'backoff_max', 'max_attempts'" in run.log  # the valid keys
    assert "TypeError" not in run.log
    assert feishu_conn.requests == []


@pytest.mark.parametrize(
    "output_path",
    [
        pytest.param("lake/part.jsonl", id="bare-relative"),
        pytest.param("file://lake/part.jsonl", id="file-two-slashes"),
        pytest.param("local://lake/part.jsonl", id="local-relative"),
    ],
)
def test_a_relative_output_path_fails_the_task_at_once(run_dag, feishu_conn, output_path):
    run = run_dag("relative_output", LOGICAL_DATE, operator_args=f'{RETRIES}, output_path="{output_path}"')

    assert run.states["pull"] == "failed"
    assert f"output_path={output_path!r} is relative" in run.log
    assert feishu_conn.requests == []


def test_a_transient_error_is_left_to_airflows_retries(run_dag, feishu_conn):
    """The contrast: a server error that outlasts the hook's retries fails the try, and Airflow tries again."""
    feishu_conn.inject("server_error", endpoint="workplace", times=None)

    run = run_dag(
        "transient",
        LOGICAL_DATE,
        operator_args="retries=1, retry_delay=pendulum.duration(seconds=0)",
        hook_params='{"backoff_base": 0.01, "max_attempts": 2}',
    )

    assert run.states["pull"] in ("failed", "up_for_retry")
    assert feishu_conn.count("workplace") == 4  # two tries of two attempts


# The output target, checked before the pull


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_s3_endpoint_fails_before_any_feishu_request(run_dag, feishu_conn, monkeypatch):
    for name, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    endpoint = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("AIRFLOW_CONN_LAKE_DOWN", aws_connection(endpoint))

    started = time.monotonic()
    run = run_dag("s3_down", LOGICAL_DATE, operator_args='output_path="s3://lake_down@lake/block/part.jsonl"')
    elapsed = time.monotonic() - started

    assert run.states["pull"] == "failed"
    assert "The output path s3://lake/block/part.jsonl cannot be written" in run.log
    assert "Nothing was asked of Feishu yet" in run.log
    assert feishu_conn.requests == []
    assert elapsed < 60


def test_a_missing_bucket_fails_before_any_feishu_request(run_dag, feishu_conn, s3_bucket):
    run = run_dag("s3_no_bucket", LOGICAL_DATE, operator_args='output_path="s3://lake_s3@no-such-bucket/part.jsonl"')

    assert run.states["pull"] == "failed"
    assert "The output path s3://no-such-bucket/part.jsonl cannot be written" in run.log
    assert feishu_conn.requests == []


def test_a_writable_bucket_gets_the_file_and_no_probe_is_left(run_dag, feishu_conn, s3_bucket):
    run = run_dag("s3_probe", LOGICAL_DATE, operator_args=f'output_path="s3://lake_s3@{BUCKET}/d/part.jsonl"')

    assert run.states["pull"] == "success", run.log
    assert [o["Key"] for o in s3_bucket.list_objects_v2(Bucket=BUCKET)["Contents"]] == ["d/part.jsonl"]


def test_a_local_folder_that_cannot_exist_fails_before_any_feishu_request(run_dag, feishu_conn, tmp_path):
    (tmp_path / "taken").write_text("a file where the folder should be")

    run = run_dag("local_blocked", LOGICAL_DATE, operator_args=f'output_path="file://{tmp_path}/taken/part.jsonl"')

    assert run.states["pull"] == "failed"
    assert f"The output path file://{tmp_path}/taken/part.jsonl cannot be written" in run.log
    assert feishu_conn.requests == []
