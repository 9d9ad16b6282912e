"""The double beyond the access-data searches: routes a test adds, and the message API as documented."""

from __future__ import annotations

import json

import pytest
import requests

from airflow_provider_feishu_workplace.testing import FeishuDouble, PlatformError, SentMessage, page_of
from tests.testing.test_double import tenant_token

MESSAGES = "/open-apis/im/v1/messages"


@pytest.fixture
def http():
    with requests.Session() as session:
        yield session


def send_message(double, http, *, token=None, receive_id_type="chat_id", **body):
    query = {} if receive_id_type is None else {"receive_id_type": receive_id_type}
    headers = {"Authorization": f"Bearer {token or tenant_token(double, http)}"}
    return http.post(double.url + MESSAGES, params=query, json=body, headers=headers, timeout=10)


def text(value: str) -> str:
    return json.dumps({"text": value})


# -- the message API ------------------------------------------------------------------------------


def test_a_text_message_to_a_chat_the_bot_is_in_is_recorded(feishu_double, http):
    answer = send_message(feishu_double, http, receive_id="oc_double_alerts", msg_type="text", content=text("hi"))

    assert answer.status_code == 200
    data = answer.json()["data"]
    assert data["chat_id"] == "oc_double_alerts" and data["msg_type"] == "text"
    assert feishu_double.sent_messages == [
        SentMessage(data["message_id"], "chat_id", "oc_double_alerts", "text", {"text": "hi"}, feishu_double.app_id)
    ]


@pytest.mark.parametrize(
    ("change", "code", "msg"),
    [
        ({"receive_id": "oc_somewhere_else"}, 230002, "Bot/User can NOT be out of the chat."),
        ({"receive_id": "not-a-chat"}, 230001, "ext=invalid receive_id."),
        ({"msg_type": "telegram"}, 230001, "ext=invalid msg_type."),
        ({"content": "hi, not JSON"}, 230001, "ext=invalid content."),
        ({"content": json.dumps({"title": "no text"})}, 230001, "ext=invalid content."),
        ({"content": {"text": "an object, not a string"}}, 99992402, "field validation failed"),
        ({"receive_id": None}, 99992402, "field validation failed"),
        ({"receive_id_type": None}, 99992402, "field validation failed"),
        ({"receive_id_type": "phone"}, 99992402, "field validation failed"),
    ],
    ids=[
        "bot-not-in-chat",
        "bad-chat-id",
        "bad-msg-type",
        "content-not-json",
        "text-without-text",
        "content-not-a-string",
        "no-receive-id",
        "no-receive-id-type",
        "bad-receive-id-type",
    ],
)
def test_a_message_the_platform_refuses_answers_its_code_and_is_not_recorded(feishu_double, http, change, code, msg):
    fields = {"receive_id_type": "chat_id", "receive_id": "oc_double_alerts", "msg_type": "text", "content": text("x")}
    fields.update(change)

    answer = send_message(feishu_double, http, **{name: value for name, value in fields.items()})

    assert (answer.status_code, answer.json()["code"]) == (400, code)
    assert msg in answer.json()["msg"]
    assert feishu_double.sent_messages == []


def test_a_repeated_uuid_sends_nothing_and_answers_the_first_message_again(feishu_double, http):
    fields = {"receive_id": "oc_double_alerts", "msg_type": "text", "content": text("once"), "uuid": "u-1"}

    first = send_message(feishu_double, http, **fields).json()["data"]
    again = send_message(feishu_double, http, **fields).json()["data"]
    other = send_message(feishu_double, http, **{**fields, "uuid": "u-2"}).json()["data"]

    assert again == first and other["message_id"] != first["message_id"]
    assert [message.message_id for message in feishu_double.sent_messages] == [first["message_id"], other["message_id"]]


def test_a_message_needs_a_tenant_token(feishu_double, http):
    answer = http.post(feishu_double.url + MESSAGES, params={"receive_id_type": "chat_id"}, json={}, timeout=10)

    assert answer.json()["code"] == 99991661


def test_chats_can_be_changed_and_reset_puts_them_back(http):
    with FeishuDouble(chat_ids=["oc_ops"]) as double:
        double.chat_ids.add("oc_new")
        assert send_message(double, http, receive_id="oc_new", msg_type="text", content=text("a")).status_code == 200

        double.reset()

        assert double.chat_ids == {"oc_ops"} and double.sent_messages == []
        assert send_message(double, http, receive_id="oc_new", msg_type="text", content=text("a")).json()["code"] == (
            230002
        )


# -- routes a test adds ---------------------------------------------------------------------------


def test_an_added_route_gets_path_params_query_body_and_the_tokens_app(feishu_double, http):
    seen = []
    name = feishu_double.add_route("PATCH", "/open-apis/im/v1/chats/{chat_id}", lambda r: seen.append(r) or {"ok": 1})
    token = tenant_token(feishu_double, http)

    answer = http.patch(
        feishu_double.url + "/open-apis/im/v1/chats/oc_1",
        params={"user_id_type": "open_id"},
        json={"name": "ops"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )

    assert answer.json() == {"code": 0, "msg": "success", "data": {"ok": 1}}
    (request,) = seen
    assert (request.path_params, request.query, request.body) == (
        {"chat_id": "oc_1"},
        {"user_id_type": "open_id"},
        {"name": "ops"},
    )
    assert request.app_id == feishu_double.app_id
    assert name == "PATCH /open-apis/im/v1/chats/{chat_id}" and feishu_double.count(name) == 1


def test_an_added_route_answers_a_platform_error_and_takes_faults(feishu_double, http):
    def refuse(request):
        raise PlatformError(41050, "no user authority error", http_status=400)

    feishu_double.add_route("GET", "/open-apis/contact/v3/users/{user_id}", refuse, name="user")
    headers = {"Authorization": f"Bearer {tenant_token(feishu_double, http)}"}
    feishu_double.inject("server_error", endpoint="user")

    first = http.get(feishu_double.url + "/open-apis/contact/v3/users/ou_1", headers=headers, timeout=10)
    second = http.get(feishu_double.url + "/open-apis/contact/v3/users/ou_1", headers=headers, timeout=10)

    assert (first.status_code, first.json()["code"]) == (500, 1500)
    assert (second.status_code, second.json()["code"], second.json()["msg"]) == (400, 41050, "no user authority error")


def test_page_of_pages_a_list_with_opaque_tokens(feishu_double, http):
    items = list(range(5))
    feishu_double.add_route("GET", "/open-apis/contact/v3/users", lambda r: page_of(items, r))
    headers = {"Authorization": f"Bearer {tenant_token(feishu_double, http)}"}
    url = feishu_double.url + "/open-apis/contact/v3/users"

    first = http.get(url, params={"page_size": 3}, headers=headers, timeout=10).json()["data"]
    last = http.get(url, params={"page_size": 3, "page_token": first["page_token"]}, headers=headers, timeout=10)
    forged = http.get(url, params={"page_token": "3"}, headers=headers, timeout=10)

    assert (first["items"], first["has_more"]) == ([0, 1, 2], True)
    assert last.json()["data"] == {"items": [3, 4], "has_more": False}
    assert forged.json()["code"] == 99992402


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("FETCH", "/open-apis/x/v1/y", lambda r: None), "method='FETCH' must be one of"),
        (("GET", "/x/v1/y", lambda r: None), "must start with /open-apis/"),
        (("GET", "/open-apis/x/v1/y", "not callable"), "must be callable"),
        (("POST", "/open-apis/im/v1/messages", lambda r: None), "is served already"),
        (("POST", "/open-apis/workplace/v1/workplace_access_data/search", lambda r: None), "is served already"),
    ],
    ids=["bad-method", "bad-path", "bad-handler", "the-message-api", "a-search-endpoint"],
)
def test_add_route_refuses_bad_or_taken_routes(feishu_double, args, message):
    with pytest.raises(ValueError, match=message):
        feishu_double.add_route(*args)


def test_add_endpoint_takes_each_code_as_stated_not_a_base(feishu_double):
    spec = feishu_double.add_endpoint(
        "app",
        path="/open-apis/workplace/v1/app_access_data/search",
        id_field="app_id",
        ids=["cli_a"],
        bad_date=1630001,
        bad_range=1630002,
        internal_error=1630009,
        bad_page_token=1630004,
        bad_page_size=1630006,
    )

    assert (spec.internal_error, spec.bad_page_size) == (1630009, 1630006)
    with pytest.raises(TypeError, match="code_base"):
        feishu_double.add_endpoint("other", path="/open-apis/x/v1/search", id_field=None, code_base=1)
