"""FeishuNotifier: a message to a Feishu chat from a real dag.test() failure, through the double."""

from __future__ import annotations

import textwrap

import pendulum
import pytest

from airflow_provider_feishu_workplace.exceptions import FeishuApiError, FeishuConfigError
from airflow_provider_feishu_workplace.notifications import FeishuNotifier
from tests.airflow_versions import run_dag_test
from tests.conftest import task_states

CHAT = "oc_double_alerts"  # the double's bot is in this chat


def test_a_failing_task_sends_the_rendered_text_to_the_chat(feishu_connection, feishu_double, dag_folder):
    source = textwrap.dedent(
        f"""
        import pendulum
        from airflow.providers.common.compat.sdk import DAG, task
        from airflow_provider_feishu_workplace.notifications import FeishuNotifier

        with DAG("alerting", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False):

            @task(on_failure_callback=FeishuNotifier(
                chat_id="{{{{ params.chat }}}}",
                text="{{{{ ti.task_id }}}} of {{{{ dag.dag_id }}}} failed on {{{{ ds }}}}",
            ), params={{"chat": "{CHAT}"}})
            def breaks():
                raise RuntimeError("boom")

            breaks()
        """
    )
    dag = dag_folder.load(source, "alerting")

    run = run_dag_test(dag, logical_date=pendulum.datetime(2026, 10, 2, tz="UTC"))

    assert task_states(run) == {"breaks": "failed"}
    (message,) = feishu_double.sent_messages
    assert (message.receive_id_type, message.receive_id, message.msg_type) == ("chat_id", CHAT, "text")
    assert message.content == {"text": "breaks of alerting failed on 2026-10-02"}
    (call,) = feishu_double.calls("send_message")
    assert call.query == {"receive_id_type": "chat_id"}
    assert len(call.body["uuid"]) == 32  # the platform sends one message per uuid: retries cannot duplicate it


def test_a_retried_send_carries_one_uuid_so_the_platform_sends_once(feishu_connection, feishu_double):
    feishu_double.inject("server_error", endpoint="send_message", status=502)
    notifier = FeishuNotifier(chat_id=CHAT, text="once")
    notifier.hook.backoff_base = 0.0

    notifier.notify({})

    calls = feishu_double.calls("send_message")
    assert [call.status for call in calls] == [502, 200]
    assert calls[0].body["uuid"] == calls[1].body["uuid"]
    assert len(feishu_double.sent_messages) == 1


def test_a_card_is_sent_as_an_interactive_message(feishu_connection, feishu_double):
    card = {"header": {"title": {"tag": "plain_text", "content": "{{ ti_id }} failed"}}, "elements": []}

    FeishuNotifier(chat_id=CHAT, card=card)({"dag": None, "ti_id": "extract"})  # a callback's context

    (message,) = feishu_double.sent_messages
    assert message.msg_type == "interactive"
    assert message.content["header"]["title"]["content"] == "extract failed"


def test_a_chat_the_bot_is_not_in_raises_the_platforms_error(feishu_connection, feishu_double):
    with pytest.raises(FeishuApiError, match=r"Feishu refused /open-apis/im/v1/messages \(code 230002, HTTP 400"):
        FeishuNotifier(chat_id="oc_not_joined", text="hello").notify({})

    assert feishu_double.sent_messages == []
    assert feishu_double.count("send_message") == 1  # refused, so not retried


def test_nothing_is_read_or_sent_when_the_notifier_is_built(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_FEISHU_DEFAULT", raising=False)

    notifier = FeishuNotifier(chat_id=CHAT, text="{{ ti.task_id }}", feishu_conn_id="no_such_connection")

    assert "hook" not in notifier.__dict__
    assert {"chat_id", "text", "card", "feishu_conn_id"} <= set(notifier.template_fields)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"chat_id": CHAT}, "needs text= .* or card="), ({"chat_id": CHAT, "card": "[]"}, "card must be a dict")],
    ids=["neither-text-nor-card", "card-not-a-dict"],
)
def test_bad_arguments_are_refused_at_parse_time(kwargs, message):
    with pytest.raises(FeishuConfigError, match=message):
        FeishuNotifier(**kwargs)


def test_the_notifier_is_registered_with_airflow():
    from airflow_provider_feishu_workplace.get_provider_info import get_provider_info

    assert get_provider_info()["notifications"] == [f"{FeishuNotifier.__module__}.{FeishuNotifier.__qualname__}"]
