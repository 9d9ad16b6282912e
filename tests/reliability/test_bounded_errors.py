"""Everything a server sends ends as a FeishuError with a bounded message that holds no secret or token.

Servers on loopback answer deeply nested JSON, huge messages and log ids, tokens that cannot go into a
header, and messages that echo the app secret or the token back.
"""

from __future__ import annotations

import json

import pytest

from airflow_provider_feishu_workplace.exceptions import (
    MAX_MESSAGE_CHARS,
    FeishuApiError,
    FeishuError,
    FeishuProtocolError,
)
from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook
from tests.loopback import SECRET, TOKEN, ScriptedServer, connection, feishu_like, send, send_json, token_answer

DEEP = 100_000


def nested(depth: int = DEEP) -> bytes:
    return b"[" * depth + b"]" * depth


def pull(**kwargs) -> list[dict]:
    hook = FeishuWorkplaceHook(backoff_base=0.01, backoff_max=0.02, max_attempts=2, **kwargs)
    return list(hook.iter_workplace_block_access_data("2026-11-19", "2026-11-19"))


def raised(server_respond, monkeypatch, **conn) -> tuple[FeishuError, ScriptedServer]:
    with ScriptedServer(server_respond) as server:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection(server.url, **conn))
        with pytest.raises(FeishuError) as caught:
            pull()
    message = str(caught.value)
    assert len(message) <= MAX_MESSAGE_CHARS
    assert SECRET not in message and TOKEN not in message
    return caught.value, server


@pytest.mark.parametrize(
    "body, status",
    [
        pytest.param(b'{"code": 0, "data": ' + nested() + b"}", 200, id="nested-data-200"),
        pytest.param(b'{"code": 99, "msg": ' + nested() + b"}", 400, id="nested-msg-400"),
        pytest.param(nested(), 200, id="nested-top-level"),
    ],
)
def test_deeply_nested_json_is_a_protocol_error_not_a_recursion_error(body, status, monkeypatch):
    error, _ = raised(feishu_like(lambda h, r: send(h, status, body)), monkeypatch)

    assert isinstance(error, FeishuProtocolError)
    assert "nested too deeply" in str(error)


def test_a_deeply_nested_token_answer_is_a_protocol_error(monkeypatch):
    error, server = raised(lambda h, r: send(h, 200, b'{"code": 0, "x": ' + nested() + b"}"), monkeypatch)

    assert isinstance(error, FeishuProtocolError)
    assert server.paths() == ["/open-apis/auth/v3/tenant_access_token/internal"]


@pytest.mark.parametrize("status", [400, 500, 200])
def test_a_huge_msg_is_cut_to_a_bounded_message(status, monkeypatch):
    payload = {"code": 12345, "msg": "m" * 2_000_000}
    error, _ = raised(feishu_like(lambda h, r: send_json(h, payload, status)), monkeypatch)

    assert isinstance(error, FeishuApiError)
    assert error.code == 12345
    assert len(error.msg) <= 300
    assert "more characters cut" in error.msg


def test_a_huge_log_id_header_is_cut(monkeypatch):
    payload = {"code": 12345, "msg": "no"}
    error, _ = raised(feishu_like(lambda h, r: send_json(h, payload, 400, {"X-Tt-Logid": "L" * 60_000})), monkeypatch)

    assert len(error.log_id) <= 100


def test_a_msg_that_is_not_text_is_not_turned_into_text(monkeypatch):
    payload = {"code": 12345, "msg": {"deep": [[[[1]]]] * 10_000}}
    error, _ = raised(feishu_like(lambda h, r: send_json(h, payload, 400)), monkeypatch)

    assert "(a dict, not text)" in str(error)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("t-abc\r\nX-Injected: 1", id="crlf"),
        pytest.param("t-abc\ndef", id="lf"),
        pytest.param("t-令牌", id="not-latin-1"),
        pytest.param("t-caf\u00e9", id="latin-1-not-ascii"),
        pytest.param("t-with space", id="space"),
        pytest.param("t-" + "x" * 5000, id="too-long"),
        pytest.param("t-ab\x00cd", id="nul"),
    ],
)
def test_a_token_that_cannot_go_into_a_header_is_refused_without_showing_it(token, monkeypatch):
    error, server = raised(lambda h, r: send_json(h, token_answer(token)), monkeypatch)

    assert isinstance(error, FeishuProtocolError)
    assert "is not a valid token" in str(error)
    assert token not in str(error) and token[2:] not in str(error)
    assert server.paths() == ["/open-apis/auth/v3/tenant_access_token/internal"]  # it was never sent anywhere


def test_a_store_apps_app_token_that_cannot_go_into_a_header_is_refused(monkeypatch):
    bad = "a-\r\nbad"

    def respond(handler, request):
        send_json(handler, {"code": 0, "msg": "ok", "app_access_token": bad, "expire": 7200})

    extra = {"app_type": "store", "app_ticket": "ticket-x", "tenant_key": "tk"}
    error, server = raised(respond, monkeypatch, extra=extra)

    assert "app_access_token that is not a valid token" in str(error)
    assert server.paths() == ["/open-apis/auth/v3/app_access_token"]


def test_a_server_that_echoes_the_secret_does_not_get_it_into_the_message(monkeypatch):
    def respond(handler, request):
        sent = json.loads(request.body)
        send_json(handler, {"code": 10003, "msg": f"invalid param app_secret={sent['app_secret']}"})

    error, _ = raised(respond, monkeypatch)

    assert "app_secret=***" in str(error)


def test_a_server_that_echoes_the_token_does_not_get_it_into_the_message(monkeypatch):
    def search(handler, request):
        token = request.headers["authorization"].removeprefix("Bearer ")
        send_json(handler, {"code": 1629001, "msg": f"bad request for token {token}"}, 400)

    error, _ = raised(feishu_like(search), monkeypatch)

    assert "for token ***" in str(error)


def test_a_huge_item_value_gives_a_bounded_item_error(monkeypatch):
    """The operator's item checks name the item: a 1 MB id must not become a 1 MB message."""
    import datetime as dt

    from airflow_provider_feishu_workplace.items.checks import ItemLedger

    item = {"date": "2026-11-19", "block_id": "b" * 1_000_000, "access_data": {"pv": "12", "uv": 1}}

    def search(handler, request):
        send_json(handler, {"code": 0, "msg": "success", "data": {"items": [item], "has_more": False}})

    with ScriptedServer(feishu_like(search)) as server:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection(server.url))
        items = FeishuWorkplaceHook().iter_workplace_block_access_data("2026-11-19", "2026-11-19")
        gate = ItemLedger(dt.date(2026, 11, 19), dt.date(2026, 11, 19), "block")
        with pytest.raises(FeishuError) as caught:
            list(gate.filter(items))

    # The id itself is the violation (no warehouse id column holds it): named, with its length, not shown whole.
    assert len(str(caught.value)) <= MAX_MESSAGE_CHARS
    assert "field block_id" in str(caught.value)
    assert "1000000 characters long" in str(caught.value)
