"""FeishuHook against APIs the provider knows nothing of: routes a test adds to the double, any method,
paging without dates, rate-limit groups, and answers that are not JSON."""

from __future__ import annotations

import re

import pytest

from airflow_provider_feishu_workplace.exceptions import FeishuNotFoundError, FeishuProtocolError
from airflow_provider_feishu_workplace.hooks.feishu import FeishuHook
from airflow_provider_feishu_workplace.testing import PlatformError, page_of
from tests.loopback import ScriptedServer, connection, feishu_like, send

USERS = [{"open_id": f"ou_{n}", "name": f"User {n}"} for n in range(7)]
USER_PATH = "/open-apis/contact/v3/users/{user_id}"
FAST = {"backoff_base": 0.0, "backoff_max": 0.01}


def find_user(request):
    user = next((user for user in USERS if user["open_id"] == request.path_params["user_id"]), None)
    if user is None:
        raise PlatformError(41050, "no user authority error")
    return {"user": user, "user_id_type": request.query.get("user_id_type")}


def test_call_gets_a_user_from_a_route_the_test_added(feishu_connection, feishu_double):
    feishu_double.add_route("GET", USER_PATH, find_user)

    data = FeishuHook().call("GET", "/open-apis/contact/v3/users/ou_2", params={"user_id_type": "open_id"})

    assert data == {"user": USERS[2], "user_id_type": "open_id"}
    (call,) = feishu_double.calls(f"GET {USER_PATH}")
    assert call.headers["authorization"] == "Bearer " + feishu_double.issued_tokens[0]


def test_a_routes_error_code_reaches_the_caller_without_retries(feishu_connection, feishu_double):
    feishu_double.add_route("GET", USER_PATH, find_user)

    with pytest.raises(Exception, match=r"Feishu refused /open-apis/contact/v3/users/ou_99 \(code 41050, HTTP 400"):
        FeishuHook(**FAST).call("GET", "/open-apis/contact/v3/users/ou_99")

    assert feishu_double.count(f"GET {USER_PATH}") == 1


@pytest.mark.parametrize("method", ["PATCH", "PUT", "DELETE", "POST"])
def test_call_sends_any_method_with_its_query_and_json_body(feishu_connection, feishu_double, method):
    feishu_double.add_route(
        method, USER_PATH, lambda request: {"got": [request.method, request.path_params, request.query, request.body]}
    )

    data = FeishuHook().call(
        method, "/open-apis/contact/v3/users/ou_1", params={"user_id_type": "open_id"}, json={"name": "Ada"}
    )

    assert data == {"got": [method, {"user_id": "ou_1"}, {"user_id_type": "open_id"}, {"name": "Ada"}]}


def test_another_method_on_a_known_path_answers_the_platforms_404(feishu_connection, feishu_double):
    feishu_double.add_route("GET", USER_PATH, find_user)

    with pytest.raises(FeishuNotFoundError, match="ou_1 was not found"):
        FeishuHook().call("DELETE", "/open-apis/contact/v3/users/ou_1")

    assert [
        (call.method, call.status, call.endpoint) for call in feishu_double.calls("/open-apis/contact/v3/users/ou_1")
    ] == [("DELETE", 404, None)]


def test_paginate_follows_a_routes_pages_with_no_dates_in_the_query(feishu_connection, feishu_double):
    feishu_double.add_route("GET", "/open-apis/contact/v3/users/find_by_department", lambda r: page_of(USERS, r))

    users = list(
        FeishuHook().paginate(
            "/open-apis/contact/v3/users/find_by_department", params={"department_id": "od-1"}, page_size=3
        )
    )

    assert users == USERS
    calls = feishu_double.calls("GET /open-apis/contact/v3/users/find_by_department")
    assert [call.query.get("page_token") is None for call in calls] == [True, False, False]
    assert {(call.query["department_id"], call.query["page_size"]) for call in calls} == {("od-1", "3")}


def test_paginates_page_budget_stops_an_endless_list_and_names_no_dates(feishu_connection, feishu_double):
    feishu_double.add_route("GET", "/open-apis/contact/v3/users", lambda r: page_of(USERS, r))

    pages = FeishuHook(max_pages=2).paginate("/open-apis/contact/v3/users", page_size=3)

    with pytest.raises(
        FeishuProtocolError, match=r"contract of /open-apis/contact/v3/users: it still had more after 2"
    ):
        list(pages)
    assert feishu_double.count("GET /open-apis/contact/v3/users") == 2


@pytest.mark.parametrize(
    ("method", "path", "group"),
    [
        ("GET", "/open-apis/contact/v3/users/ou_1", "GET /open-apis/contact/v3/users/:id"),
        ("get", "/open-apis/contact/v3/users/ou_2", "GET /open-apis/contact/v3/users/:id"),
        ("PATCH", "/open-apis/im/v1/chats/oc_a0553eda9014c201e6969b478895c230", "PATCH /open-apis/im/v1/chats/:id"),
        (
            "GET",
            "/open-apis/docx/v1/documents/doxcnAJ9VRRJqVMYZ1MyKnayXWe/blocks",
            "GET /open-apis/docx/v1/documents/:id/blocks",
        ),
        (
            "GET",
            "/open-apis/contact/v3/departments/od-64242a18099d3a31acd24d8fce8dxxxx",
            "GET /open-apis/contact/v3/departments/:id",
        ),
        ("GET", "/open-apis/contact/v3/users/find_by_department", "GET /open-apis/contact/v3/users/find_by_department"),
        (
            "POST",
            "/open-apis/workplace/v1/workplace_block_access_data/search",
            "POST /open-apis/workplace/v1/workplace_block_access_data/search",
        ),
    ],
    ids=["open-id", "another-open-id", "chat-id", "doc-token", "department-id", "path-words", "workplace-search"],
)
def test_the_default_rate_limit_group_is_the_api_without_its_ids(method, path, group):
    assert FeishuHook.rate_limit_group(method, path) == group


def test_two_ids_of_one_api_share_one_pacer(feishu_connection, feishu_double):
    feishu_double.add_route("GET", USER_PATH, find_user)
    hook = FeishuHook(requests_per_second=2.5)  # one request every 0.4 s per group

    for user in ("ou_1", "ou_2", "ou_3"):
        hook.call("GET", f"/open-apis/contact/v3/users/{user}")

    arrivals = [call.received_at for call in feishu_double.calls(f"GET {USER_PATH}")]
    # A pacer per path would let the three through at once; one per API spaces them (a lower bound only).
    assert all(later - earlier >= 0.35 for earlier, later in zip(arrivals, arrivals[1:], strict=False))


def test_two_apis_named_into_one_group_share_one_pacer(feishu_connection, feishu_double):
    feishu_double.add_route("GET", USER_PATH, find_user)
    feishu_double.add_route("GET", "/open-apis/contact/v3/departments/{department_id}", lambda r: {"department": {}})
    hook = FeishuHook(requests_per_second=2.5)

    hook.call("GET", "/open-apis/contact/v3/users/ou_1", rate_limit_group="contact")
    hook.call("GET", "/open-apis/contact/v3/departments/od-1", rate_limit_group="contact")

    first, second = (call.received_at for call in feishu_double.calls() if call.path.startswith("/open-apis/contact"))
    assert second - first >= 0.35


@pytest.mark.parametrize(
    ("content_type", "body"),
    [("image/png", b"\x89PNG\r\n\x1a\n\x00\x00"), ("text/html; charset=utf-8", b"<html>Sign in to the Wi-Fi</html>")],
    ids=["binary", "html"],
)
def test_a_200_that_is_not_json_is_a_protocol_error_naming_type_and_path_and_is_not_retried(
    monkeypatch, content_type, body
):
    def answers_bytes(handler, request):
        send(handler, 200, body, {"Content-Type": content_type})

    with ScriptedServer(feishu_like(answers_bytes)) as server:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection(server.url))
        with pytest.raises(FeishuProtocolError) as caught:
            FeishuHook(**FAST).call("GET", "/open-apis/im/v1/images/img_1")
        api_calls = [request for request in server.requests if not request.path.startswith("/open-apis/auth/")]

    message = str(caught.value)
    assert re.search(rf"/open-apis/im/v1/images/img_1 with HTTP 200 and {re.escape(content_type)}, not JSON", message)
    assert caught.value.retryable is False
    assert len(api_calls) == 1
