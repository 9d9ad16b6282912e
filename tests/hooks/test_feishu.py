"""FeishuHook: any Open Platform API through the same request path (tokens, retries, paging, errors)."""

from __future__ import annotations

import json
import re

import pytest

from airflow_provider_feishu_workplace.exceptions import (
    FeishuApiError,
    FeishuConfigError,
    FeishuPermissionError,
    FeishuProtocolError,
)
from airflow_provider_feishu_workplace.hooks.feishu import FeishuHook
from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook
from tests.loopback import TOKEN, ScriptedServer, connection, feishu_like, send_json

USERS = [{"open_id": f"ou_{n}", "name": f"User {n}"} for n in range(7)]
FAST = {"backoff_base": 0.0, "backoff_max": 0.01}


def contact_api(handler, request) -> None:
    """A contact/v3 users API: a user by id, and the users list in pages of page_size (default 3)."""
    if request.method == "GET" and request.path.startswith("/open-apis/contact/v3/users/ou_"):
        user = next(user for user in USERS if user["open_id"] == request.path.rsplit("/", 1)[1])
        send_json(handler, {"code": 0, "msg": "success", "data": {"user": user}})
    elif request.method == "GET" and request.path == "/open-apis/contact/v3/users":
        size = int(request.query.get("page_size", 3))
        start = int(request.query.get("page_token", "0"))
        end = start + size
        data = {"items": USERS[start:end], "has_more": end < len(USERS)}
        if end < len(USERS):
            data["page_token"] = str(end)
        send_json(handler, {"code": 0, "msg": "success", "data": data})
    else:
        send_json(handler, {"code": 1500, "msg": "unexpected"}, status=500)


@pytest.fixture
def contact(monkeypatch):
    with ScriptedServer(feishu_like(contact_api)) as server:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection(server.url))
        yield server


def api_calls(server) -> list:
    return [request for request in server.requests if not request.path.startswith("/open-apis/auth/")]


def test_call_returns_the_answers_data_with_the_tenant_token(contact):
    data = FeishuHook().call("GET", "/open-apis/contact/v3/users/ou_2", params={"user_id_type": "open_id"})

    assert data == {"user": USERS[2]}
    (request,) = api_calls(contact)
    assert request.query == {"user_id_type": "open_id"}
    assert request.headers["authorization"] == f"Bearer {TOKEN}"


def test_paginate_yields_every_item_following_page_tokens(contact):
    users = FeishuHook().paginate("/open-apis/contact/v3/users", params={"department_id": "0"}, page_size=3)

    assert list(users) == USERS
    assert [request.query.get("page_token") for request in api_calls(contact)] == [None, "3", "6"]
    assert {request.query["page_size"] for request in api_calls(contact)} == {"3"}
    assert {request.query["department_id"] for request in api_calls(contact)} == {"0"}


def test_paginate_refuses_a_page_that_breaks_the_paging_contract(monkeypatch):
    def no_has_more(handler, request):
        send_json(handler, {"code": 0, "msg": "success", "data": {"items": USERS}})

    with ScriptedServer(feishu_like(no_has_more)) as server:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection(server.url))
        with pytest.raises(FeishuProtocolError, match="/open-apis/contact/v3/users: has_more is missing"):
            list(FeishuHook().paginate("/open-apis/contact/v3/users"))


@pytest.mark.parametrize(("retry", "requests_made"), [(True, 3), (False, 1)], ids=["retried", "retry-off"])
def test_call_retries_server_errors_unless_told_not_to(monkeypatch, retry, requests_made):
    def failing(handler, request):
        send_json(handler, {"code": 1500, "msg": "internal"}, status=500)

    with ScriptedServer(feishu_like(failing)) as server:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection(server.url))
        with pytest.raises(FeishuApiError, match="server-side error on /open-apis/im/v1/messages"):
            FeishuHook(max_attempts=3, **FAST).call("POST", "/open-apis/im/v1/messages", json={"x": 1}, retry=retry)

        assert len(api_calls(server)) == requests_made


@pytest.mark.parametrize(
    ("pull", "scope"),
    [
        (
            lambda: FeishuHook().call("POST", "/open-apis/workplace/v1/workplace_block_access_data/search"),
            "a scope this API needs (msg names it)",
        ),
        (
            lambda: list(FeishuWorkplaceHook().iter_workplace_block_access_data("2026-10-01", "2026-10-01")),
            "the scope workplace:workplace_using_data:read",
        ),
    ],
    ids=["the-generic-hook-knows-no-api", "workplace-endpoint-from-its-record"],
)
def test_a_missing_scope_names_the_endpoints_scope_when_known(monkeypatch, pull, scope):
    def missing_scope(handler, request):
        send_json(handler, {"code": 99991672, "msg": "Access denied. One of the scopes is required."}, status=400)

    with ScriptedServer(feishu_like(missing_scope)) as server:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection(server.url))
        with pytest.raises(FeishuPermissionError, match=re.escape(f"the app lacks {scope}: add it")):
            pull()


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        ("FETCH", "/open-apis/contact/v3/users", "method='FETCH' is not one of"),
        ("GET", "https://elsewhere.example/open-apis/x", "must be an API path starting with /open-apis/"),
        ("GET", "/open-apis/contact/v3/users?page_size=3", "without a query (use params=)"),
        ("GET", "contact/v3/users", "must be an API path"),
    ],
    ids=["bad-method", "absolute-url", "query-in-path", "relative-path"],
)
def test_call_refuses_bad_arguments_before_any_request(contact, method, path, message):
    with pytest.raises(FeishuConfigError, match=re.escape(message)):
        FeishuHook().call(method, path)

    assert contact.requests == []


def test_paginate_refuses_a_page_token_in_params(contact):
    with pytest.raises(FeishuConfigError, match="paginate\\(\\) follows the tokens itself"):
        FeishuHook().paginate("/open-apis/contact/v3/users", params={"page_token": "x"})


def test_call_reaches_a_workplace_search_on_the_double(feishu_connection, feishu_double):
    data = FeishuHook().call(
        "POST",
        "/open-apis/workplace/v1/workplace_block_access_data/search",
        params={"from_date": "2026-10-01", "to_date": "2026-10-01", "page_size": 200},
    )

    assert data["items"] == feishu_double.expected_items("block", "2026-10-01", "2026-10-01")
    assert data["has_more"] is False


def test_the_workplace_hook_is_a_feishu_hook_on_the_same_connection_type():
    from airflow_provider_feishu_workplace.get_provider_info import get_provider_info

    (connection_type,) = get_provider_info()["connection-types"]

    assert issubclass(FeishuWorkplaceHook, FeishuHook)
    assert FeishuWorkplaceHook.conn_type == FeishuHook.conn_type == connection_type["connection-type"] == "feishu"
    assert connection_type["hook-class-name"] == f"{FeishuHook.__module__}.{FeishuHook.__qualname__}"


def test_feishu_hook_tests_the_connection_of_either_app_type(feishu_double, monkeypatch):
    for app_type in ("self_built", "store"):
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", feishu_double.connection(app_type))

        ok, message = FeishuHook().test_connection()

        assert ok, message
    assert json.dumps([call.body for call in feishu_double.calls("token")]).count("app_ticket") == 1


def test_paginate_ends_on_has_more_false_even_when_the_last_page_repeats_a_token(monkeypatch):
    def token_on_last_page(handler, request):
        start = int(request.query.get("page_token", "0"))
        data = {"items": USERS[start : start + 4], "has_more": start == 0, "page_token": str(start + 4)}
        send_json(handler, {"code": 0, "msg": "success", "data": data})

    with ScriptedServer(feishu_like(token_on_last_page)) as server:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection(server.url))
        assert list(FeishuHook().paginate("/open-apis/contact/v3/users", page_size=4)) == USERS
        assert [request.query.get("page_token") for request in api_calls(server)] == [None, "4"]


@pytest.mark.parametrize("late", [False, True], ids=["renewed-in-budget", "not-renewed-past-budget"])
def test_a_rejected_token_is_renewed_only_within_the_retry_deadline(monkeypatch, late):
    import time

    from airflow_provider_feishu_workplace.exceptions import FeishuTokenInvalidError

    def rejects_first_token(handler, request):
        if len(api_calls(server)) == 1:
            time.sleep(1.5 if late else 0.0)
            send_json(handler, {"code": 99991663, "msg": "Invalid access token for authorization."})
        else:
            send_json(handler, {"code": 0, "msg": "success", "data": {"user": USERS[0]}})

    with ScriptedServer(feishu_like(rejects_first_token)) as server:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection(server.url))
        hook = FeishuHook(retry_deadline=4.0, timeout=3.0, **FAST)  # renewal only in the first second
        if late:
            with pytest.raises(FeishuTokenInvalidError):
                hook.call("GET", "/open-apis/contact/v3/users/ou_0")
            assert len(api_calls(server)) == 1
        else:
            assert hook.call("GET", "/open-apis/contact/v3/users/ou_0") == {"user": USERS[0]}
            assert len(api_calls(server)) == 2
