"""The Feishu double behaves like the platform described in the API facts, over real sockets.

The ``feishu_double`` fixture comes from the package's pytest plugin (a ``pytest11`` entry point).
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from airflow_provider_feishu_workplace.testing import FAULT_KINDS, HOSTILE_MODES, FeishuDouble, RecordedRequest

REPO_ROOT = Path(__file__).resolve().parents[2]

INTERNAL_TOKEN = "/open-apis/auth/v3/tenant_access_token/internal"
APP_TOKEN = "/open-apis/auth/v3/app_access_token"
STORE_TENANT_TOKEN = "/open-apis/auth/v3/tenant_access_token"
TICKET_RESEND = "/open-apis/auth/v3/app_ticket/resend"
SEARCH = {
    "workplace": "/open-apis/workplace/v1/workplace_access_data/search",
    "custom_workplace": "/open-apis/workplace/v1/custom_workplace_access_data/search",
    "block": "/open-apis/workplace/v1/workplace_block_access_data/search",
}
ENDPOINTS = list(SEARCH)


@pytest.fixture
def http():
    with requests.Session() as session:
        yield session


def tenant_token(double: FeishuDouble, http: requests.Session) -> str:
    answer = http.post(double.url + INTERNAL_TOKEN, json={"app_id": double.app_id, "app_secret": double.app_secret})
    return answer.json()["tenant_access_token"]


def search(double, http, endpoint="workplace", *, token=None, headers=None, timeout=10, **params) -> requests.Response:
    params.setdefault("from_date", "2024-01-01")
    params.setdefault("to_date", "2024-01-07")
    if headers is None:
        headers = {"Authorization": f"Bearer {token or tenant_token(double, http)}"}
    return http.post(double.url + SEARCH[endpoint], params=params, headers=headers, timeout=timeout)


def read_all(double, http, endpoint, page_size, **params) -> tuple[list[dict], int]:
    """Follow page tokens to the end; return the items and the number of pages."""
    token = tenant_token(double, http)
    items, pages, page_token = [], 0, None
    while True:
        extra = {"page_token": page_token} if page_token else {}
        data = search(double, http, endpoint, token=token, page_size=page_size, **params, **extra).json()["data"]
        items += data["items"]
        pages += 1
        if not data["has_more"]:
            assert "page_token" not in data
            return items, pages
        page_token = data["page_token"]


# -- tokens -------------------------------------------------------------------------------


def test_tenant_token_is_reused_while_more_than_30_minutes_remain(feishu_double, http):
    body = {"app_id": feishu_double.app_id, "app_secret": feishu_double.app_secret}
    first = http.post(feishu_double.url + INTERNAL_TOKEN, json=body).json()
    feishu_double.advance_clock(1000)
    second = http.post(feishu_double.url + INTERNAL_TOKEN, json=body).json()

    assert first == {"code": 0, "msg": "ok", "tenant_access_token": first["tenant_access_token"], "expire": 7200}
    assert first["tenant_access_token"].startswith("t-")
    assert second["tenant_access_token"] == first["tenant_access_token"]
    assert 6199 <= second["expire"] <= 6200  # whole seconds remaining, rounded down


def test_new_tenant_token_inside_last_30_minutes_and_both_stay_valid(feishu_double, http):
    old = tenant_token(feishu_double, http)
    feishu_double.advance_clock(7200 - 1800)
    new_answer = http.post(
        feishu_double.url + INTERNAL_TOKEN,
        json={"app_id": feishu_double.app_id, "app_secret": feishu_double.app_secret},
    ).json()

    assert new_answer["tenant_access_token"] != old
    assert new_answer["expire"] == 7200
    for token in (old, new_answer["tenant_access_token"]):
        assert search(feishu_double, http, token=token).json()["code"] == 0
    assert feishu_double.issued_tokens == [old, new_answer["tenant_access_token"]]


def test_tenant_token_is_rejected_after_its_lifetime(feishu_double, http):
    token = tenant_token(feishu_double, http)
    feishu_double.advance_clock(7200)

    answer = search(feishu_double, http, token=token)

    assert answer.status_code == 400
    assert answer.json()["code"] == 99991663


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param({"app_id": "cli_unknown", "app_secret": "x"}, 10003, id="unknown-app-id"),
        pytest.param({"app_id": "cli_double_selfbuilt", "app_secret": "wrong"}, 10015, id="wrong-secret"),
        pytest.param({"app_id": "cli_double_selfbuilt"}, 10003, id="missing-secret"),
        pytest.param(None, 10003, id="no-body"),
    ],
)
def test_bad_credentials_answer_http_200_with_nonzero_code(feishu_double, http, body, code):
    answer = http.post(feishu_double.url + INTERNAL_TOKEN, json=body)

    assert answer.status_code == 200
    assert answer.json()["code"] == code
    assert "tenant_access_token" not in answer.json()
    assert feishu_double.issued_tokens == []


def test_store_app_gets_app_token_then_tenant_token_that_reads_data(feishu_double, http):
    app_answer = http.post(
        feishu_double.url + APP_TOKEN,
        json={
            "app_id": feishu_double.store_app_id,
            "app_secret": feishu_double.store_app_secret,
            "app_ticket": feishu_double.app_ticket,
        },
    ).json()
    tenant_answer = http.post(
        feishu_double.url + STORE_TENANT_TOKEN,
        json={"app_access_token": app_answer["app_access_token"], "tenant_key": feishu_double.tenant_key},
    ).json()

    assert app_answer["code"] == 0 and app_answer["app_access_token"].startswith("a-")
    assert app_answer["expire"] == 7200
    assert tenant_answer["code"] == 0 and tenant_answer["tenant_access_token"].startswith("t-")
    assert search(feishu_double, http, token=tenant_answer["tenant_access_token"]).json()["code"] == 0
    # An app token is not a tenant token.
    assert search(feishu_double, http, token=app_answer["app_access_token"]).json()["code"] == 99991663


@pytest.mark.parametrize(
    ("change", "code"),
    [
        pytest.param({"app_ticket": "stale-ticket"}, 10012, id="wrong-app-ticket"),
        pytest.param({"app_secret": "wrong"}, 10015, id="wrong-secret"),
        pytest.param({"app_id": "cli_unknown"}, 10003, id="unknown-app-id"),
        pytest.param({"tenant_key": "unknown_tenant"}, 99992500, id="unknown-tenant-key"),
        pytest.param({"app_access_token": "a-forged"}, 10013, id="bad-app-access-token"),
    ],
)
def test_store_app_errors_answer_http_200_with_their_code(feishu_double, http, change, code):
    app_body = {
        "app_id": feishu_double.store_app_id,
        "app_secret": feishu_double.store_app_secret,
        "app_ticket": feishu_double.app_ticket,
    }
    app_body.update({key: value for key, value in change.items() if key in app_body})
    app_answer = http.post(feishu_double.url + APP_TOKEN, json=app_body)
    if app_answer.json()["code"]:
        answer = app_answer
    else:
        tenant_body = {
            "app_access_token": app_answer.json()["app_access_token"],
            "tenant_key": feishu_double.tenant_key,
        }
        tenant_body.update({key: value for key, value in change.items() if key in tenant_body})
        answer = http.post(feishu_double.url + STORE_TENANT_TOKEN, json=tenant_body)

    assert answer.status_code == 200
    assert answer.json()["code"] == code


def test_app_ticket_resend_answers_code_0(feishu_double, http):
    answer = http.post(
        feishu_double.url + TICKET_RESEND,
        json={"app_id": feishu_double.store_app_id, "app_secret": feishu_double.store_app_secret},
    )

    assert answer.json() == {"code": 0, "msg": "ok"}


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        pytest.param({}, 99991661, id="no-authorization-header"),
        pytest.param({"Authorization": "t-g1044abc"}, 99991661, id="no-bearer-prefix"),
        pytest.param({"Authorization": "Bearer "}, 99991661, id="empty-bearer"),
        pytest.param({"Authorization": "Bearer t-g1044unknown"}, 99991663, id="unknown-token"),
    ],
)
def test_search_without_a_valid_bearer_token_is_refused(feishu_double, http, headers, code):
    answer = search(feishu_double, http, headers=headers)

    assert answer.status_code == 400
    assert answer.json()["code"] == code


# -- data and paging ----------------------------------------------------------------------


def test_450_days_of_workplace_data_come_in_3_pages_of_200_equal_to_expected_items(feishu_double, http):
    items, pages = read_all(feishu_double, http, "workplace", 200, from_date="2023-01-01", to_date="2024-03-25")

    assert pages == 3
    assert len(items) == 450
    assert items == feishu_double.expected_items("workplace", "2023-01-01", datetime.date(2024, 3, 25))


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_paging_with_small_pages_yields_expected_items_in_date_then_id_order(feishu_double, http, endpoint):
    items, pages = read_all(feishu_double, http, endpoint, 7, from_date="2024-02-27", to_date="2024-03-03")
    per_day = {"workplace": 1, "custom_workplace": 3, "block": 5}[endpoint]
    id_field = {"workplace": "date", "custom_workplace": "custom_workplace_id", "block": "block_id"}[endpoint]

    assert items == feishu_double.expected_items(endpoint, "2024-02-27", "2024-03-03")
    assert len(items) == 6 * per_day  # 2024 is a leap year
    assert pages == -(-len(items) // 7)
    assert [(item["date"], item[id_field]) for item in items] == sorted(
        (item["date"], item[id_field]) for item in items
    )


def test_default_page_size_is_20(feishu_double, http):
    data = search(feishu_double, http, "block", from_date="2024-01-01", to_date="2024-01-31").json()["data"]

    assert len(data["items"]) == 20
    assert data["has_more"] is True


@pytest.mark.parametrize(
    ("endpoint", "filter_param", "ids"),
    [
        pytest.param("custom_workplace", "custom_workplace_id", "custom_workplace_ids", id="custom-workplace"),
        pytest.param("block", "block_id", "block_ids", id="block"),
    ],
)
def test_id_filter_restricts_items_to_that_id_and_unknown_ids_have_none(
    feishu_double, http, endpoint, filter_param, ids
):
    wanted = getattr(feishu_double, ids)[1]
    items, _ = read_all(
        feishu_double, http, endpoint, 100, from_date="2024-01-01", to_date="2024-01-10", **{filter_param: wanted}
    )
    unknown = search(feishu_double, http, endpoint, **{filter_param: "no_such_id"}).json()["data"]

    assert len(items) == 10
    assert {item[filter_param] for item in items} == {wanted}
    assert items == feishu_double.expected_items(endpoint, "2024-01-01", "2024-01-10", **{filter_param: wanted})
    assert unknown == {"items": [], "has_more": False}


def test_unavailable_dates_and_dates_after_available_until_have_no_items(feishu_double, http):
    feishu_double.unavailable_dates.add(datetime.date(2024, 1, 3))
    feishu_double.available_until = datetime.date(2024, 1, 5)

    items, _ = read_all(feishu_double, http, "workplace", 2, from_date="2024-01-01", to_date="2024-01-10")

    assert [item["date"] for item in items] == ["2024-01-01", "2024-01-02", "2024-01-04", "2024-01-05"]
    assert items == feishu_double.expected_items("workplace", "2024-01-01", "2024-01-10")


def test_items_are_plausible_and_custom_workplace_names_are_real_chinese(feishu_double):
    workplace = feishu_double.expected_items("workplace", "2024-01-01", "2024-03-31")
    custom = feishu_double.expected_items("custom_workplace", "2024-01-01", "2024-01-31")
    blocks = feishu_double.expected_items("block", "2024-01-01", "2024-01-31")

    for item in workplace:
        total, default = item["all_workplace"], item["default_workplace"]
        assert 0 <= default["uv"] <= total["uv"] <= total["pv"]
        assert default["uv"] <= default["pv"] <= total["pv"]
    for item in custom + blocks:
        assert 0 < item["access_data"]["uv"] <= item["access_data"]["pv"]
    assert custom[0]["custom_workplace_name"] == [
        {"language": "zh_cn", "name": "销售工作台"},
        {"language": "en_us", "name": "Sales Workplace"},
    ]
    assert len({item["block_id"] for item in blocks}) == 5


def test_same_request_gives_the_same_bytes_on_any_double(http):
    bodies = []
    for _ in range(2):
        with FeishuDouble() as double:
            token = tenant_token(double, http)
            for page_size in (50, 50):
                answer = search(
                    double,
                    http,
                    "custom_workplace",
                    token=token,
                    page_size=page_size,
                    from_date="2023-01-01",
                    to_date="2023-12-31",
                )
                bodies.append(answer.content)

    assert len(set(bodies)) == 1


def test_search_ignores_a_json_body(feishu_double, http):
    token = tenant_token(feishu_double, http)
    params = {"from_date": "2024-01-01", "to_date": "2024-01-02"}
    plain = http.post(feishu_double.url + SEARCH["block"], params=params, headers={"Authorization": f"Bearer {token}"})
    with_body = http.post(
        feishu_double.url + SEARCH["block"],
        params=params,
        json={"from_date": "1999-01-01"},
        headers={"Authorization": f"Bearer {token}"},
    )

    assert with_body.content == plain.content


# -- validation ---------------------------------------------------------------------------

VALIDATION_CASES = [
    # (endpoint, params, expected code)
    ("workplace", {"from_date": "2024/01/01"}, 1628001),
    ("workplace", {"to_date": "2024-02-30"}, 1628001),
    ("workplace", {"from_date": "20240101"}, 1628001),
    ("workplace", {"from_date": "2024-01-08"}, 1628002),
    ("workplace", {"page_size": "0"}, 99992402),
    ("workplace", {"page_size": "201"}, 99992402),
    ("workplace", {"page_size": "ten"}, 99992402),
    ("workplace", {"from_date": ""}, 99992402),
    ("custom_workplace", {"from_date": "2024-1-1"}, 1621001),
    ("custom_workplace", {"from_date": "2024-01-08"}, 1621002),
    ("custom_workplace", {"page_size": "101"}, 99992402),
    ("block", {"to_date": "yesterday"}, 1629001),
    ("block", {"from_date": "2024-01-08"}, 1629002),
    ("block", {"page_size": "0"}, 1629006),
    ("block", {"page_size": "201"}, 1629006),
]


@pytest.mark.parametrize(
    ("endpoint", "params", "code"),
    VALIDATION_CASES,
    ids=[f"{endpoint}-{'-'.join(f'{k}={v}' for k, v in params.items())}" for endpoint, params, _ in VALIDATION_CASES],
)
def test_invalid_parameters_answer_http_400_with_the_endpoints_code(feishu_double, http, endpoint, params, code):
    answer = search(feishu_double, http, endpoint, **params)

    assert answer.status_code == 400
    assert answer.json()["code"] == code


@pytest.mark.parametrize("page_size", ["1", "200"])
def test_page_size_limits_are_inclusive(feishu_double, http, page_size):
    assert search(feishu_double, http, "block", page_size=page_size).json()["code"] == 0


def _forged(token: str) -> str:
    body, signature = token.split(".")
    return f"{body[:-2]}{'A' if body[-2] != 'A' else 'B'}{body[-1]}.{signature}"


@pytest.mark.parametrize(
    ("endpoint", "code"), [("workplace", 1628004), ("custom_workplace", 1621004), ("block", 1629005)]
)
@pytest.mark.parametrize("kind", ["garbage", "forged", "other-query"])
def test_bad_page_token_answers_the_endpoints_code(feishu_double, http, endpoint, code, kind):
    token = tenant_token(feishu_double, http)
    first = search(feishu_double, http, endpoint, token=token, page_size=1).json()["data"]
    page_token = {
        "garbage": "not-a-token",
        "forged": _forged(first["page_token"]),
        "other-query": first["page_token"],
    }[kind]
    to_date = "2024-01-06" if kind == "other-query" else "2024-01-07"

    answer = search(feishu_double, http, endpoint, token=token, page_size=1, to_date=to_date, page_token=page_token)

    assert answer.status_code == 400
    assert answer.json()["code"] == code


def test_page_token_works_with_another_page_size(feishu_double, http):
    token = tenant_token(feishu_double, http)
    first = search(feishu_double, http, "block", token=token, page_size=3).json()["data"]
    rest = search(feishu_double, http, "block", token=token, page_size=200, page_token=first["page_token"]).json()

    assert first["items"] + rest["data"]["items"] == feishu_double.expected_items("block", "2024-01-01", "2024-01-07")


# -- routing and error bodies -------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("POST", "/open-apis/workplace/v1/no_such/search", id="unknown-path"),
        pytest.param("GET", SEARCH["workplace"], id="wrong-method"),
        pytest.param("POST", SEARCH["workplace"] + "/", id="trailing-slash"),
    ],
)
def test_unknown_path_or_method_answers_plain_text_404(feishu_double, http, method, path):
    answer = http.request(method, feishu_double.url + path)

    assert answer.status_code == 404
    assert answer.headers["Content-Type"].startswith("text/plain")
    assert answer.text == "404 page not found"
    assert feishu_double.requests[-1].endpoint is None


def test_error_bodies_carry_the_log_id_of_the_x_tt_logid_header(feishu_double, http):
    answers = [search(feishu_double, http, headers={}), search(feishu_double, http, headers={})]

    log_ids = [answer.json()["error"]["log_id"] for answer in answers]
    assert log_ids == [answer.headers["X-Tt-Logid"] for answer in answers]
    assert log_ids[0] != log_ids[1]
    assert [request.log_id for request in feishu_double.requests] == log_ids


# -- faults -------------------------------------------------------------------------------

FAULT_CASES = [
    # (kind, params, HTTP status, JSON code or None, headers that must be present)
    ("rate_limit", {}, 429, 99991400, {"x-ogw-ratelimit-limit": "20", "x-ogw-ratelimit-reset": "0"}),
    ("rate_limit", {"reset": 3}, 429, 99991400, {"x-ogw-ratelimit-reset": "3"}),
    ("rate_limit_400", {}, 400, 99991400, {"x-ogw-ratelimit-limit": "20", "x-ogw-ratelimit-reset": "0"}),
    ("server_error", {}, 500, 1500, {}),
    ("server_error", {"status": 503}, 503, 1500, {}),
    ("gateway_html", {}, 502, None, {"Content-Type": "text/html"}),
    ("gateway_html", {"status": 504}, 504, None, {"Content-Type": "text/html"}),
    ("internal_error", {}, 400, 1628003, {}),
    ("token_expired", {}, 400, 99991663, {}),
    ("missing_scope", {}, 400, 99991672, {}),
    ("quota", {}, 400, 99991403, {}),
    ("app_not_installed", {}, 400, 99991673, {}),
    ("error", {"code": 1234, "msg": "custom"}, 400, 1234, {}),
    ("error", {"code": 5000, "http_status": 502}, 502, 5000, {}),
]


@pytest.mark.parametrize(
    ("kind", "params", "status", "code", "headers"),
    FAULT_CASES,
    ids=[f"{kind}-{'-'.join(f'{k}={v}' for k, v in params.items()) or 'defaults'}" for kind, params, *_ in FAULT_CASES],
)
def test_injected_fault_answers_its_status_code_and_headers(feishu_double, http, kind, params, status, code, headers):
    token = tenant_token(feishu_double, http)
    feishu_double.inject(kind, **params)

    answer = search(feishu_double, http, token=token)
    after = search(feishu_double, http, token=tenant_token(feishu_double, http))

    assert answer.status_code == status
    for name, value in headers.items():
        assert answer.headers[name] == value
    if code is None:
        assert "nginx" in answer.text and f"<h1>{status} " in answer.text
    else:
        assert answer.json()["code"] == code
        assert answer.json()["error"]["log_id"] == answer.headers["X-Tt-Logid"]
    assert after.json()["code"] == 0, "a fault applies once by default"
    assert feishu_double.requests[-3].fault == kind


@pytest.mark.parametrize(
    ("endpoint", "code"), [("workplace", 1628003), ("custom_workplace", 1621003), ("block", 1629004)]
)
def test_internal_error_fault_uses_each_endpoints_documented_code(feishu_double, http, endpoint, code):
    token = tenant_token(feishu_double, http)
    feishu_double.inject("internal_error", endpoint=endpoint)

    assert search(feishu_double, http, endpoint, token=token).json()["code"] == code


def test_missing_scope_message_names_the_scope(feishu_double, http):
    token = tenant_token(feishu_double, http)
    feishu_double.inject("missing_scope")

    msg = search(feishu_double, http, token=token).json()["msg"]

    assert msg.startswith(
        "Access denied. One of the following scopes is required: [workplace:workplace_using_data:read]"
    )


def test_fault_lets_skip_requests_through_then_applies_times(feishu_double, http):
    token = tenant_token(feishu_double, http)
    feishu_double.inject("server_error", skip=1, times=2)

    statuses = [search(feishu_double, http, token=token).status_code for _ in range(4)]

    assert statuses == [200, 500, 500, 200]
    assert [request.fault for request in feishu_double.requests[1:]] == [None, "server_error", "server_error", None]


def test_faults_are_used_in_the_order_queued(feishu_double, http):
    token = tenant_token(feishu_double, http)
    feishu_double.inject("rate_limit", times=2)
    feishu_double.inject("server_error")

    statuses = [search(feishu_double, http, token=token).status_code for _ in range(4)]

    assert statuses == [429, 429, 500, 200]


def test_fault_hits_only_the_requests_its_endpoint_selects(feishu_double, http):
    feishu_double.inject("server_error", endpoint="token")
    feishu_double.inject("rate_limit", endpoint="block")

    token_answer = http.post(feishu_double.url + INTERNAL_TOKEN, json={})
    token = tenant_token(feishu_double, http)
    workplace = search(feishu_double, http, "workplace", token=token)
    block = search(feishu_double, http, "block", token=token)

    assert (token_answer.status_code, workplace.status_code, block.status_code) == (500, 200, 429)
    assert feishu_double.count("token") == 2
    assert feishu_double.count("search") == 2
    assert feishu_double.count("block") == 1
    assert feishu_double.count("any") == 4


def test_token_expired_fault_expires_current_tokens_so_the_next_token_request_gets_a_new_one(feishu_double, http):
    old = tenant_token(feishu_double, http)
    feishu_double.inject("token_expired")

    answer = search(feishu_double, http, token=old)
    new = tenant_token(feishu_double, http)

    assert answer.status_code == 400
    assert answer.json()["code"] == 99991663
    assert answer.json()["msg"].startswith("Invalid access token for authorization.")
    assert new != old
    assert search(feishu_double, http, token=old).json()["code"] == 99991663
    assert search(feishu_double, http, token=new).json()["code"] == 0


def test_truncated_json_fault_answers_200_with_half_a_json_body(feishu_double, http):
    token = tenant_token(feishu_double, http)
    whole = search(feishu_double, http, token=token).content
    feishu_double.inject("truncated_json")

    answer = search(feishu_double, http, token=token)

    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.content == whole[: len(whole) // 2]
    with pytest.raises(ValueError):
        json.loads(answer.content)
    assert feishu_double.requests[-1].code is None


def test_connection_reset_fault_raises_a_connection_error_in_the_client(feishu_double, http):
    token = tenant_token(feishu_double, http)
    feishu_double.inject("connection_reset")

    with pytest.raises(requests.ConnectionError):
        search(feishu_double, http, token=token)
    assert search(feishu_double, http, token=token).json()["code"] == 0
    assert feishu_double.requests[1].status is None
    assert feishu_double.requests[1].fault == "connection_reset"


def test_slow_fault_answers_normally_after_the_delay(feishu_double, http):
    token = tenant_token(feishu_double, http)
    feishu_double.inject("slow", delay=0.3)

    started = time.monotonic()
    answer = search(feishu_double, http, token=token)

    assert time.monotonic() - started >= 0.3
    assert answer.json()["code"] == 0
    assert feishu_double.requests[-1].fault == "slow"


def test_slow_fault_outlasts_a_short_client_timeout(feishu_double, http):
    token = tenant_token(feishu_double, http)
    feishu_double.inject("slow", delay=1)

    with pytest.raises(requests.Timeout):
        search(feishu_double, http, token=token, timeout=0.1)


def test_fault_kinds_lists_every_kind_inject_accepts(feishu_double):
    required = {"error": {"code": 1}, "hostile": {"mode": "string_pv"}}
    for kind in FAULT_KINDS:
        feishu_double.inject(kind, **required.get(kind, {}))

    assert set(FAULT_KINDS) == {
        "rate_limit",
        "rate_limit_400",
        "server_error",
        "gateway_html",
        "internal_error",
        "connection_reset",
        "slow",
        "truncated_json",
        "token_expired",
        "missing_scope",
        "quota",
        "app_not_installed",
        "error",
        "hostile",
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"kind": "meteor"}, "unknown fault kind", id="unknown-kind"),
        pytest.param(
            {"kind": "rate_limit", "endpoint": "searches"}, "unknown endpoint selector", id="unknown-selector"
        ),
        pytest.param({"kind": "rate_limit", "delay": 1}, "takes parameters", id="wrong-parameter"),
        pytest.param({"kind": "error"}, "needs parameters", id="missing-parameter"),
        pytest.param({"kind": "slow", "times": 0}, "times >= 1", id="times-zero"),
    ],
)
def test_inject_rejects_bad_arguments_with_a_clear_message(feishu_double, kwargs, message):
    with pytest.raises(ValueError, match=message):
        feishu_double.inject(**kwargs)


# -- hostile answers ----------------------------------------------------------------------

DAY = {"from_date": "2024-01-01", "to_date": "2024-01-01"}  # five blocks: pages of two take three requests


def pages_of(double, http, endpoint="block", *, page_size=2, limit=10, **params):
    """Follow page tokens (at most ``limit`` pages); return each page's ``data``."""
    token = tenant_token(double, http)
    pages, page_token = [], None
    while len(pages) < limit:
        extra = {"page_token": page_token} if page_token else {}
        answer = search(double, http, endpoint, token=token, page_size=page_size, **{**DAY, **params}, **extra)
        assert answer.status_code == 200 and answer.json()["code"] == 0
        pages.append(answer.json()["data"])
        if not pages[-1]["has_more"]:
            break
        page_token = pages[-1]["page_token"]
    return pages


HOSTILE_ITEM_CASES = [
    # (mode, params, endpoint, what the changed item looks like given the expected one)
    ("missing_field", {}, "block", lambda want, got: got == {k: v for k, v in want.items() if k != "access_data"}),
    ("missing_field", {"field": "date"}, "block", lambda want, got: "date" not in got and got["block_id"]),
    ("missing_field", {"field": "block_id"}, "block", lambda want, got: "block_id" not in got and got["date"]),
    ("missing_field", {"field": "access_data.pv"}, "block", lambda want, got: list(got["access_data"]) == ["uv"]),
    ("missing_field", {}, "workplace", lambda want, got: "all_workplace" not in got and got["default_workplace"]),
    ("string_pv", {}, "block", lambda want, got: got["access_data"]["pv"] == str(want["access_data"]["pv"])),
    ("string_pv", {}, "workplace", lambda want, got: got["all_workplace"]["pv"] == str(want["all_workplace"]["pv"])),
    ("null_access_data", {}, "custom_workplace", lambda want, got: got["access_data"] is None and got["date"]),
    ("not_an_object", {}, "block", lambda want, got: json.loads(got) == want),
    ("negative_pv", {}, "block", lambda want, got: got["access_data"]["pv"] == -want["access_data"]["pv"]),
    ("negative_uv", {}, "block", lambda want, got: got["access_data"]["uv"] == -want["access_data"]["uv"]),
    ("uv_above_pv", {}, "block", lambda want, got: got["access_data"]["uv"] == want["access_data"]["pv"] + 1),
]


@pytest.mark.parametrize(
    ("mode", "params", "endpoint", "looks_right"),
    HOSTILE_ITEM_CASES,
    ids=[f"{case[0]}-{case[2]}-{'-'.join(case[1].values()) or 'default'}" for case in HOSTILE_ITEM_CASES],
)
def test_hostile_item_mode_changes_one_item_of_a_code_0_page(feishu_double, http, mode, params, endpoint, looks_right):
    expected = feishu_double.expected_items(endpoint, "2024-01-01", "2024-01-01")
    feishu_double.inject("hostile", endpoint=endpoint, mode=mode, **params)

    items = [item for page in pages_of(feishu_double, http, endpoint, page_size=5) for item in page["items"]]

    assert len(items) == len(expected)
    assert looks_right(expected[0], items[0])
    assert items[1:] == expected[1:]
    assert feishu_double.requests[-1].fault == "hostile" and feishu_double.requests[-1].code == 0


def test_hostile_item_parameter_picks_the_item(feishu_double, http):
    expected = feishu_double.expected_items("block", "2024-01-01", "2024-01-01")
    feishu_double.inject("hostile", mode="negative_pv", item=1)

    items = pages_of(feishu_double, http, page_size=5)[0]["items"]

    assert items[0] == expected[0] and items[1]["access_data"]["pv"] < 0


@pytest.mark.parametrize("mode", ["duplicate_item", "conflicting_duplicate", "out_of_range_date"])
def test_hostile_extra_item_comes_first_and_the_page_stays_within_page_size(feishu_double, http, mode):
    e = feishu_double.expected_items("block", "2024-01-01", "2024-01-01")
    feishu_double.inject("hostile", endpoint="block", skip=1, mode=mode)

    pages = pages_of(feishu_double, http)

    extra = pages[1]["items"][0]
    assert [page["items"] for page in pages] == [[e[0], e[1]], [extra, e[2]], [e[3], e[4]]]
    if mode == "duplicate_item":
        assert extra == e[1]  # the previous page's last item, again
    elif mode == "conflicting_duplicate":
        assert extra == {**e[1], "access_data": {**e[1]["access_data"], "pv": e[1]["access_data"]["pv"] + 1}}
    else:
        assert extra == {**e[2], "date": "2023-12-31"}


def test_hostile_duplicate_on_the_first_page_repeats_its_first_item(feishu_double, http):
    e = feishu_double.expected_items("block", "2024-01-01", "2024-01-01")
    feishu_double.inject("hostile", mode="duplicate_item")

    assert [page["items"] for page in pages_of(feishu_double, http)] == [[e[0], e[0]], [e[1], e[2]], [e[3], e[4]]]


def test_hostile_has_more_without_token(feishu_double, http):
    feishu_double.inject("hostile", mode="has_more_without_token")

    data = search(feishu_double, http, "block", page_size=2, **DAY).json()["data"]

    assert data["has_more"] is True and "page_token" not in data and len(data["items"]) == 2


def test_hostile_repeat_token_hands_back_the_token_the_request_carried(feishu_double, http):
    feishu_double.inject("hostile", skip=1, times=None, mode="repeat_token")

    pages = pages_of(feishu_double, http, limit=4)

    tokens = [page["page_token"] for page in pages]
    assert tokens[0] == tokens[1] == tokens[2] == tokens[3]
    assert feishu_double.requests[-1].query["page_token"] == tokens[0]


def test_hostile_repeat_token_on_the_first_page_points_at_the_first_page(feishu_double, http):
    feishu_double.inject("hostile", times=2, mode="repeat_token")

    first, second = pages_of(feishu_double, http, limit=2)

    assert first["items"] == second["items"] and first["page_token"] == second["page_token"]


def test_hostile_token_cycle_goes_a_b_a_b(feishu_double, http):
    e = feishu_double.expected_items("block", "2024-01-01", "2024-01-01")
    feishu_double.inject("hostile", times=None, mode="token_cycle")

    pages = pages_of(feishu_double, http, page_size=1, limit=6)

    a, b, *rest = (page["page_token"] for page in pages)
    assert a != b and rest == [a, b, a, b]
    assert [page["items"] for page in pages] == [[e[0]], [e[1]], [e[2]], [e[1]], [e[2]], [e[1]]]


@pytest.mark.parametrize("mode", ["endless_pages", "empty_pages"])
def test_hostile_endless_modes_always_have_more_with_new_tokens(feishu_double, http, mode):
    feishu_double.inject("hostile", times=None, mode=mode)

    pages = pages_of(feishu_double, http, limit=12)

    assert len(pages) == 12 and all(page["has_more"] for page in pages)
    assert len({page["page_token"] for page in pages}) == 12
    if mode == "endless_pages":  # five blocks, two a page: pages go on past the data, never empty
        e = feishu_double.expected_items("block", "2024-01-01", "2024-01-01")
        assert [page["items"] for page in pages[:4]] == [[e[0], e[1]], [e[2], e[3]], [e[4], e[0]], [e[1], e[2]]]
    else:
        assert all(page["items"] == [] for page in pages)


def test_hostile_oversized_page_has_one_item_more_than_page_size(feishu_double, http):
    e = feishu_double.expected_items("block", "2024-01-01", "2024-01-01")
    feishu_double.inject("hostile", mode="oversized_page")

    first = search(feishu_double, http, "block", page_size=2, **DAY).json()["data"]
    feishu_double.inject("hostile", mode="oversized_page")
    whole = search(feishu_double, http, "block", page_size=5, **DAY).json()["data"]

    assert first["items"] == e[:3] and first["has_more"] is True
    assert whole["items"] == [*e, e[-1]] and whole["has_more"] is False


@pytest.mark.parametrize("content_length", [True, False])
def test_hostile_huge_body_is_larger_than_21_mib(feishu_double, http, content_length):
    feishu_double.inject("hostile", mode="huge_body", content_length=content_length)

    answer = search(feishu_double, http, "block", **DAY)

    assert len(answer.content) > 21 * 1024 * 1024
    assert ("Content-Length" in answer.headers) is content_length
    assert answer.json()["data"]["items"] == feishu_double.expected_items("block", "2024-01-01", "2024-01-01")


def test_hostile_fault_leaves_failing_requests_failing(feishu_double, http):
    feishu_double.inject("hostile", mode="string_pv")

    answer = search(feishu_double, http, "block", headers={"Authorization": "Bearer t-forged"}, **DAY)

    assert answer.json()["code"] == 99991663
    assert feishu_double.requests[-1].fault is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({}, "needs parameters", id="no-mode"),
        pytest.param({"mode": "sneaky"}, "unknown hostile mode 'sneaky'", id="unknown-mode"),
        pytest.param({"mode": "string_pv", "endpoint": "token"}, "changes search answers", id="token-endpoint"),
        pytest.param({"mode": "string_pv", "times": 0}, "or None: forever", id="times-zero"),
    ],
)
def test_inject_hostile_rejects_bad_arguments(feishu_double, kwargs, message):
    with pytest.raises(ValueError, match=message):
        feishu_double.inject("hostile", **kwargs)


def test_hostile_modes_are_documented(feishu_double):
    import airflow_provider_feishu_workplace.testing as testing

    for mode in HOSTILE_MODES:
        assert f"``{mode}``" in testing.__doc__
        feishu_double.inject("hostile", mode=mode)


# -- rate limiter -------------------------------------------------------------------------


def test_rate_limiter_answers_429_past_20_requests_per_second_with_headers(feishu_double, http):
    token = tenant_token(feishu_double, http)

    # The bucket refills at 20/s while the requests go out: on a loaded machine (or beside other xdist
    # workers) 30 requests can take long enough to never empty it, so ask until the first 429 comes.
    started = time.monotonic()
    answers = []
    while len(answers) < 400 and (len(answers) < 30 or answers[-1].status_code != 429):
        answers.append(search(feishu_double, http, token=token))
    elapsed = time.monotonic() - started
    statuses = [answer.status_code for answer in answers]
    limited = [answer for answer in answers if answer.status_code == 429]

    assert statuses[:20] == [200] * 20
    assert limited
    assert statuses.count(200) <= 20 + int(elapsed * 20) + 1  # the bucket refills at 20/s meanwhile
    assert limited[0].json()["code"] == 99991400
    assert limited[0].json()["msg"] == "request trigger frequency limit"
    assert limited[0].headers["x-ogw-ratelimit-limit"] == "20"
    assert limited[0].headers["x-ogw-ratelimit-reset"] == "1"


def test_rate_limiter_keeps_one_bucket_per_endpoint_path_and_refills(http):
    with FeishuDouble(rate_limit_per_second=5) as double:
        token = tenant_token(double, http)
        workplace = [search(double, http, "workplace", token=token).status_code for _ in range(6)]
        block = search(double, http, "block", token=token).status_code
        time.sleep(0.25)
        refilled = search(double, http, "workplace", token=token).status_code

    assert workplace == [200] * 5 + [429]
    assert block == 200
    assert refilled == 200


def test_rate_limiter_can_be_disabled(http):
    with FeishuDouble(rate_limit_per_second=None) as double:
        token = tenant_token(double, http)
        statuses = {search(double, http, token=token).status_code for _ in range(60)}

    assert statuses == {200}


# -- records and life cycle ---------------------------------------------------------------


def test_requests_records_what_was_asked_and_answered(feishu_double, http):
    token = tenant_token(feishu_double, http)
    search(feishu_double, http, "block", token=token, page_size=5)

    token_request, search_request = feishu_double.requests

    assert isinstance(search_request, RecordedRequest)
    assert token_request.body == {"app_id": feishu_double.app_id, "app_secret": feishu_double.app_secret}
    assert token_request.endpoint == "tenant_access_token_internal"
    assert (search_request.method, search_request.path, search_request.endpoint) == ("POST", SEARCH["block"], "block")
    assert search_request.query == {"from_date": "2024-01-01", "to_date": "2024-01-07", "page_size": "5"}
    assert search_request.body is None
    assert search_request.headers["authorization"] == f"Bearer {token}"
    assert (search_request.status, search_request.code, search_request.fault) == (200, 0, None)
    feishu_double.clear_requests()
    assert feishu_double.requests == []


def test_stop_closes_open_keep_alive_connections_promptly_and_can_repeat(http):
    double = FeishuDouble().start()
    url = double.url
    tenant_token(double, http)  # leaves a keep-alive connection open

    started = time.monotonic()
    double.stop()
    double.stop()

    assert time.monotonic() - started < 1
    with pytest.raises(requests.ConnectionError):
        http.post(url + INTERNAL_TOKEN, json={}, timeout=2)
    with pytest.raises(RuntimeError, match="not running"):
        _ = double.url


def test_expected_items_rejects_unknown_endpoints_filters_and_dates(feishu_double):
    with pytest.raises(ValueError, match="endpoint must be one of"):
        feishu_double.expected_items("workplaces", "2024-01-01", "2024-01-02")
    with pytest.raises(ValueError, match="filters on"):
        feishu_double.expected_items("workplace", "2024-01-01", "2024-01-02", block_id="x")
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        feishu_double.expected_items("workplace", "2024/01/01", "2024-01-02")


def test_a_page_deep_into_ten_years_of_blocks_is_fast(http):
    with FeishuDouble(rate_limit_per_second=None, blocks_per_day=200) as double:
        token = tenant_token(double, http)
        page_token = None
        started = time.monotonic()
        for _ in range(50):
            extra = {"page_token": page_token} if page_token else {}
            data = search(
                double, http, "block", token=token, page_size=200, from_date="2015-01-01", to_date="2024-12-31", **extra
            ).json()["data"]
            page_token = data["page_token"]
        elapsed = time.monotonic() - started

    assert elapsed < 2.5, f"50 pages of 200 items took {elapsed:.2f}s"


# -- command line -------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_cli_prints_url_and_credentials_serves_and_exits_0_on_signal(http, signum):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_feishu_workplace.testing",
            "serve",
            "--port",
            "0",
            "--no-rate-limit",
            "--blocks-per-day",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        info = json.loads(process.stdout.readline())
        token = http.post(
            info["url"] + INTERNAL_TOKEN, json={"app_id": info["app_id"], "app_secret": info["app_secret"]}
        ).json()["tenant_access_token"]
        answer = http.post(
            info["url"] + SEARCH["block"],
            params={"from_date": "2024-01-01", "to_date": "2024-01-03"},
            headers={"Authorization": f"Bearer {token}"},
        )
        process.send_signal(signum)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.communicate()

    credentials = {"app_id", "app_secret", "store_app_id", "store_app_secret", "app_ticket", "tenant_key"}
    assert set(info) == {"url", "control_url", "control_token", *credentials}
    assert info["url"].startswith("http://127.0.0.1:") and info["control_url"].startswith("http://127.0.0.1:")
    assert len(answer.json()["data"]["items"]) == 6
