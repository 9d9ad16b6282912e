"""FeishuWorkplaceHook against the bundled double, over real sockets on loopback."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time

import pendulum
import pytest

from airflow_provider_feishu_workplace.exceptions import (
    FeishuApiError,
    FeishuCredentialsError,
    FeishuPermissionError,
    FeishuQuotaError,
    FeishuRateLimitError,
    FeishuTransientError,
)
from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook
from tests.conftest import connection_json
from tests.fault_cases import CLIENT_TIMEOUT, TRANSIENT_FAULTS

FROM, TO = "2025-01-01", "2026-03-26"  # 450 days


def read_all(hook, dataset, from_date=FROM, to_date=TO, **kwargs):
    return list(hook.iter_access_data(dataset, from_date, to_date, **kwargs))


class TestPaging:
    def test_450_days_take_three_search_calls_and_one_token_call(self, make_hook, feishu_conn):
        items = list(make_hook().iter_workplace_access_data(FROM, TO))

        assert items == feishu_conn.expected_items("workplace", FROM, TO)
        assert len(items) == 450
        assert feishu_conn.count("workplace") == 3
        assert feishu_conn.count("token") == 1

    def test_search_parameters_travel_in_the_query_string_with_a_bearer_token(self, make_hook, feishu_conn):
        list(make_hook().iter_workplace_access_data("2026-01-01", "2026-01-02", page_size=1))

        first, second = [r for r in feishu_conn.requests if r.endpoint == "workplace"]
        assert first.method == "POST"
        assert first.query == {"from_date": "2026-01-01", "to_date": "2026-01-02", "page_size": "1"}
        assert "page_token" in second.query
        assert first.headers["authorization"].startswith("Bearer t-")

    def test_custom_workplace_endpoint_pages_at_most_100_items(self, make_hook, feishu_conn):
        items = list(make_hook().iter_custom_workplace_access_data("2026-01-01", "2026-02-19"))

        assert items == feishu_conn.expected_items("custom_workplace", "2026-01-01", "2026-02-19")
        assert all(r.query["page_size"] == "100" for r in feishu_conn.requests if r.endpoint == "custom_workplace")
        assert feishu_conn.count("custom_workplace") == 2  # 50 days x 3 workplaces = 150 items

    def test_custom_workplace_filter_returns_one_workplace(self, make_hook, feishu_conn):
        every = feishu_conn.expected_items("custom_workplace", "2026-01-01", "2026-01-31")
        wanted = every[0]["custom_workplace_id"]

        items = list(
            make_hook().iter_custom_workplace_access_data("2026-01-01", "2026-01-31", custom_workplace_id=wanted)
        )

        assert items == [item for item in every if item["custom_workplace_id"] == wanted]
        assert len(items) == 31

    def test_block_filter_returns_one_block(self, make_hook, feishu_conn):
        every = feishu_conn.expected_items("block", "2026-01-01", "2026-01-31")
        wanted = every[-1]["block_id"]

        items = list(make_hook().iter_workplace_block_access_data("2026-01-01", "2026-01-31", block_id=wanted))

        assert items == [item for item in every if item["block_id"] == wanted]
        assert {r.query.get("block_id") for r in feishu_conn.requests if r.endpoint == "block"} == {wanted}

    def test_chinese_names_arrive_unchanged(self, make_hook, feishu_conn):
        items = list(make_hook().iter_custom_workplace_access_data("2026-01-01", "2026-01-01"))

        names = [entry["name"] for item in items for entry in item["custom_workplace_name"]]
        assert any(not name.isascii() for name in names)

    @pytest.mark.parametrize(
        "from_date, to_date",
        [
            pytest.param(dt.date(2026, 1, 1), dt.date(2026, 1, 5), id="dates"),
            pytest.param(dt.datetime(2026, 1, 1, 23, 0), dt.datetime(2026, 1, 5, 1, 0), id="datetimes"),
            pytest.param(
                pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
                pendulum.datetime(2026, 1, 5, 23, 59, tz="Asia/Shanghai"),
                id="pendulum",
            ),
            pytest.param(" 2026-01-01", "2026-01-05 ", id="padded-strings"),
        ],
    )
    def test_date_values_of_every_kind_become_calendar_days(self, make_hook, feishu_conn, from_date, to_date):
        items = list(make_hook().iter_workplace_access_data(from_date, to_date))

        assert [item["date"] for item in items] == [f"2026-01-0{day}" for day in range(1, 6)]

    def test_generator_holds_one_page_and_sends_nothing_until_iterated(self, make_hook, feishu_conn):
        pages = make_hook().iter_workplace_access_data(FROM, TO, page_size=10)
        assert feishu_conn.count("search") == 0

        next(pages)
        assert feishu_conn.count("workplace") == 1
        pages.close()

    def test_one_token_serves_every_call_of_a_hook(self, make_hook, feishu_conn):
        hook = make_hook()
        for dataset in ("workplace", "custom_workplace", "block"):
            read_all(hook, dataset, "2026-01-01", "2026-01-02")

        assert feishu_conn.count("token") == 1


class TestTransientFaults:
    @pytest.mark.parametrize("kind, params", TRANSIENT_FAULTS)
    @pytest.mark.parametrize(
        "endpoint, skip",
        [
            pytest.param("token", 0, id="token-call"),
            pytest.param("block", 0, id="first-page"),
            pytest.param("block", 2, id="middle-page"),
            pytest.param("block", 4, id="last-page"),
        ],
    )
    def test_transient_fault_is_retried_to_an_identical_result(
        self, make_hook, feishu_conn, kind, params, endpoint, skip
    ):
        expected = feishu_conn.expected_items("block", "2026-01-01", "2026-01-10")  # 50 items, 5 pages of 10
        feishu_conn.inject(kind, endpoint=endpoint, skip=skip, times=2, **params)

        items = read_all(make_hook(timeout=CLIENT_TIMEOUT), "block", "2026-01-01", "2026-01-10", page_size=10)

        assert items == expected
        assert feishu_conn.count("block") == 5 + (2 if endpoint == "block" else 0)
        assert feishu_conn.count("token") == (3 if endpoint == "token" else 1)

    def test_rate_limit_waits_the_reset_the_platform_asks_for(self, make_hook, feishu_conn):
        feishu_conn.inject("rate_limit", endpoint="workplace", reset=0.4)

        started = time.monotonic()
        read_all(make_hook(), "workplace", "2026-01-01", "2026-01-01")

        assert time.monotonic() - started >= 0.4

    def test_retries_stop_after_max_attempts_with_the_last_code_and_status(self, make_hook, feishu_conn):
        feishu_conn.inject("internal_error", endpoint="workplace", times=99)

        with pytest.raises(FeishuApiError) as caught:
            read_all(make_hook(max_attempts=4), "workplace", "2026-01-01", "2026-01-01")

        assert caught.value.code == 1628003
        assert caught.value.http_status == 400
        assert caught.value.log_id
        assert "gave up after 4 attempts" in str(caught.value)
        assert feishu_conn.count("workplace") == 4

    def test_a_failing_token_call_is_retried_by_itself_not_once_more_per_search_attempt(self, make_hook, feishu_conn):
        feishu_conn.inject("server_error", endpoint="token", times=None)

        with pytest.raises(FeishuApiError, match="gave up after 4 attempts") as caught:
            read_all(make_hook(max_attempts=4), "workplace", "2026-01-01", "2026-01-01")

        assert str(caught.value).count("gave up") == 1
        assert feishu_conn.count("token") == 4
        assert feishu_conn.count("search") == 0

    def test_retries_stop_at_the_deadline(self, make_hook, feishu_conn):
        feishu_conn.inject("rate_limit", endpoint="workplace", times=99, reset=0.3)

        with pytest.raises(FeishuRateLimitError, match="gave up after 2 attempts"):
            read_all(make_hook(retry_deadline=0.5), "workplace", "2026-01-01", "2026-01-01")

    def test_token_expiry_mid_paging_renews_the_token_and_resumes_the_same_page(self, make_hook, feishu_conn):
        expected = feishu_conn.expected_items("block", "2026-01-01", "2026-01-10")
        feishu_conn.inject("token_expired", endpoint="block", skip=2)

        items = read_all(make_hook(), "block", "2026-01-01", "2026-01-10", page_size=10)

        assert items == expected
        assert feishu_conn.count("token") == 2
        block_calls = [r for r in feishu_conn.requests if r.endpoint == "block"]
        assert block_calls[2].query == block_calls[3].query  # the rejected page is asked again
        assert block_calls[2].headers["authorization"] != block_calls[3].headers["authorization"]

    def test_a_token_rejected_twice_in_a_row_is_not_renewed_forever(self, make_hook, feishu_conn):
        feishu_conn.inject("token_expired", endpoint="workplace", times=5)

        with pytest.raises(FeishuApiError) as caught:
            read_all(make_hook(), "workplace", "2026-01-01", "2026-01-01")

        assert caught.value.code == 99991663
        assert feishu_conn.count("workplace") == 2
        assert feishu_conn.count("token") == 2

    def test_token_near_expiry_is_renewed_before_use(self, feishu_double, monkeypatch):
        from airflow_provider_feishu_workplace.testing import FeishuDouble

        with FeishuDouble(token_lifetime=2) as double:
            monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection_json(double))
            hook = FeishuWorkplaceHook()
            first = hook.get_tenant_access_token()
            assert hook.get_tenant_access_token() == first
            time.sleep(1.1)  # past half the 2 s lifetime, the safety margin for short-lived tokens
            assert hook.get_tenant_access_token() != first
            assert double.count("token") == 2
            hook.close()


class TestNonRetryableErrors:
    @pytest.mark.parametrize(
        "kind, error_class, code, advice",
        [
            pytest.param(
                "missing_scope",
                FeishuPermissionError,
                99991672,
                "workplace:workplace_using_data:read",
                id="missing-scope",
            ),
            pytest.param("quota", FeishuQuotaError, 99991403, "quota", id="quota"),
            pytest.param("app_not_installed", FeishuPermissionError, 99991673, "not installed", id="not-installed"),
        ],
    )
    def test_error_is_raised_after_one_call_with_what_to_do(
        self, make_hook, feishu_conn, kind, error_class, code, advice
    ):
        feishu_conn.inject(kind, endpoint="workplace", times=5)

        with pytest.raises(error_class, match=advice) as caught:
            read_all(make_hook(), "workplace", "2026-01-01", "2026-01-01")

        assert caught.value.code == code
        assert caught.value.log_id
        assert feishu_conn.count("workplace") == 1

    @pytest.mark.parametrize(
        "code, advice",
        [
            pytest.param(10003, "App ID", id="10003-invalid-param"),
            pytest.param(10014, "App Secret", id="10014"),
            pytest.param(10015, "App Secret", id="10015-wrong-secret"),
            pytest.param(11210, "not installed", id="11210-not-installed"),
            pytest.param(20009, "not installed", id="20009-not-installed"),
        ],
    )
    def test_token_endpoint_codes_on_http_200_are_not_retried(self, make_hook, feishu_conn, code, advice):
        feishu_conn.inject("error", endpoint="token", code=code, http_status=200, msg="rejected", times=5)

        with pytest.raises(FeishuApiError, match=advice) as caught:
            make_hook().get_tenant_access_token()

        assert caught.value.code == code
        assert caught.value.http_status == 200
        assert feishu_conn.count("token") == 1

    def test_wrong_secret_says_the_credentials_are_wrong(self, feishu_double, monkeypatch):
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection_json(feishu_double, password="not-the-secret"))

        with pytest.raises(FeishuCredentialsError, match="App Secret") as caught:
            FeishuWorkplaceHook().get_tenant_access_token()

        assert "not-the-secret" not in str(caught.value)
        assert feishu_double.count("token") == 1

    def test_plain_text_404_surfaces_as_an_api_error_not_a_json_error(self, feishu_double, monkeypatch):
        monkeypatch.setenv(
            "AIRFLOW_CONN_FEISHU_DEFAULT", connection_json(feishu_double, host=feishu_double.url + "/gw")
        )

        with pytest.raises(FeishuApiError, match="Base URL") as caught:
            FeishuWorkplaceHook().get_tenant_access_token()

        assert caught.value.http_status == 404
        assert "404 page not found" in caught.value.msg
        assert feishu_double.count("any") == 1


class TestConnections:
    @pytest.mark.parametrize(
        "host, expected",
        [
            pytest.param(None, "https://open.feishu.cn", id="empty-means-feishu"),
            pytest.param("open.larksuite.com", "https://open.larksuite.com", id="bare-host-means-https"),
            pytest.param("https://open.feishu.cn/", "https://open.feishu.cn", id="trailing-slash"),
            pytest.param("https://gw.example.com:8443/feishu/", "https://gw.example.com:8443/feishu", id="prefix"),
            pytest.param("http://127.0.0.1:9000", "http://127.0.0.1:9000", id="loopback-http"),
        ],
    )
    def test_base_url_forms(self, monkeypatch, host, expected):
        conn = {"conn_type": "feishu", "login": "cli_a", "password": "s", "host": host}
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", json.dumps(conn))

        assert FeishuWorkplaceHook().settings.base_url == expected

    def test_uri_connection_with_encoded_host_reaches_the_double(self, feishu_double, monkeypatch):
        from urllib.parse import quote

        secret, host = quote(feishu_double.app_secret, safe=""), quote(feishu_double.url, safe="")
        uri = f"feishu://{feishu_double.app_id}:{secret}@{host}"
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_URI", uri)

        items = list(FeishuWorkplaceHook("feishu_uri").iter_workplace_access_data("2026-01-01", "2026-01-03"))

        assert len(items) == 3

    def test_store_app_uri_extras_arrive_as_strings(self, feishu_double, monkeypatch):
        from urllib.parse import quote, urlencode

        extras = urlencode(
            {"app_type": "store", "app_ticket": feishu_double.app_ticket, "tenant_key": feishu_double.tenant_key}
        )
        uri = (
            f"feishu://{feishu_double.store_app_id}:{quote(feishu_double.store_app_secret, safe='')}"
            f"@{quote(feishu_double.url, safe='')}?{extras}"
        )
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_STORE", uri)

        items = list(FeishuWorkplaceHook("feishu_store").iter_workplace_access_data("2026-01-01", "2026-01-03"))

        assert len(items) == 3

    def test_store_app_flow_uses_ticket_then_tenant_key(self, feishu_double, monkeypatch):
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection_json(feishu_double, app_type="store"))

        items = list(FeishuWorkplaceHook().iter_workplace_block_access_data("2026-01-01", "2026-01-02"))

        assert items == feishu_double.expected_items("block", "2026-01-01", "2026-01-02")
        app_call, tenant_call = [
            r for r in feishu_double.requests if r.endpoint in ("app_access_token", "tenant_access_token")
        ]
        assert app_call.body["app_ticket"] == feishu_double.app_ticket
        assert tenant_call.body["tenant_key"] == feishu_double.tenant_key
        assert tenant_call.body["app_access_token"].startswith("a-")

    def test_stale_app_ticket_says_how_to_get_a_new_one(self, feishu_double, monkeypatch, airflow_db):
        # No receiver stores a pushed ticket here: the hook asks for a push, waits, then says what to check.
        conn = feishu_double.connection("store", extra={"app_ticket_secret": "stale-ticket"})
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", conn)

        with pytest.raises(FeishuTransientError, match="app_ticket/resend") as caught:
            FeishuWorkplaceHook(ticket_wait=0.2).get_tenant_access_token()

        assert "10012" in str(caught.value) and "callback URL" in str(caught.value)
        assert "stale-ticket" not in str(caught.value)

    def test_test_connection_reports_success_without_secrets(self, make_hook, feishu_conn):
        ok, message = make_hook().test_connection()

        assert ok, message
        assert feishu_conn.app_id in message
        assert feishu_conn.app_secret not in message
        assert not any(token in message for token in feishu_conn.issued_tokens)

    def test_test_connection_reports_a_wrong_secret(self, feishu_double, monkeypatch):
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection_json(feishu_double, password="wrong-one"))

        ok, message = FeishuWorkplaceHook().test_connection()

        assert not ok
        assert "App Secret" in message and "wrong-one" not in message


class TestSecrets:
    def test_no_secret_or_token_reaches_logs_or_errors(self, feishu_double, monkeypatch, caplog):
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection_json(feishu_double, app_type="store"))
        caplog.set_level(logging.DEBUG)
        feishu_double.inject("rate_limit", endpoint="workplace")
        feishu_double.inject("token_expired", endpoint="workplace", skip=1)
        feishu_double.inject("missing_scope", endpoint="block")
        hook = FeishuWorkplaceHook(backoff_base=0.01)

        list(hook.iter_workplace_access_data("2026-01-01", "2026-01-30", page_size=10))
        with pytest.raises(FeishuPermissionError) as caught:
            list(hook.iter_workplace_block_access_data("2026-01-01", "2026-01-02"))

        secrets = [feishu_double.store_app_secret, feishu_double.app_ticket, *feishu_double.issued_tokens]
        assert len(feishu_double.issued_tokens) >= 3  # app token + two tenant tokens
        for secret in secrets:
            assert secret not in caplog.text
            assert secret not in str(caught.value)
        assert all("token" not in r.query for r in feishu_double.requests)

    def test_tokens_are_registered_with_airflows_secret_masker(self, make_hook, feishu_conn):
        from airflow.providers.common.compat.sdk import redact

        token = make_hook().get_tenant_access_token()

        assert token not in str(redact(f"token is {token}"))

    def test_settings_repr_hides_the_secret(self, make_hook, feishu_conn):
        assert feishu_conn.app_secret not in repr(make_hook().settings)


class TestPacing:
    def test_pacing_keeps_a_long_run_under_the_platforms_limit(self, make_hook, feishu_conn):
        items = read_all(make_hook(), "block", "2026-01-01", "2026-01-30", page_size=5)  # 30 pages

        assert len(items) == 150
        assert not [r for r in feishu_conn.requests if r.status == 429]

    def test_without_pacing_the_limiter_answers_429_and_retries_still_finish(self, make_hook, feishu_conn):
        items = read_all(make_hook(requests_per_second=None), "block", "2026-01-01", "2026-01-30", page_size=5)

        assert items == feishu_conn.expected_items("block", "2026-01-01", "2026-01-30")


@pytest.mark.parametrize(
    "module",
    [
        "airflow_provider_feishu_workplace.hooks.feishu",
        "airflow_provider_feishu_workplace.hooks.feishu_workplace",
        "airflow_provider_feishu_workplace.operators.feishu_workplace",
        "airflow_provider_feishu_workplace.endpoints",
    ],
)
def test_importing_a_provider_module_loads_nothing_heavy(module):
    import subprocess
    import sys

    code = (
        # What a DAG file has loaded already (Airflow 3's airflow.sdk, Airflow 2's models) before our module.
        "import json, sys; from airflow.providers.common.compat.sdk import DAG, BaseHook, BaseOperator;"
        "before = set(sys.modules);"
        f"import {module};"
        "new = sorted(set(sys.modules) - before);"
        "print(json.dumps(new))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    new_modules = json.loads(result.stdout.strip().splitlines()[-1])

    heavy = [
        name for name in new_modules if name.split(".")[0] in ("requests", "urllib3", "lark_oapi", "fsspec", "upath")
    ]
    assert heavy == []
    assert len(new_modules) < 25, new_modules
