"""No request follows a redirect: the app secret, the ticket and the token go to the connection's origin only.

The Base URL server (A) redirects to another loopback port (B, another origin) that would answer like
Feishu. B must receive nothing, and the error must name where the redirect pointed and not be retried.
"""

from __future__ import annotations

import pendulum
import pytest

from airflow_provider_feishu_workplace.exceptions import FeishuRedirectError
from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook
from tests.loopback import SECRET, ScriptedServer, connection, feishu_like, send, send_json, token_answer

SEARCH = "/open-apis/workplace/v1/workplace_block_access_data/search"


def redirecting(status: int, location: str, *, only_search: bool = False):
    def respond(handler, request):
        if only_search and request.path.startswith("/open-apis/auth/"):
            send_json(handler, token_answer())
            return
        send(handler, status, b"", {"Location": location.replace("{path}", request.path), "Content-Type": "text/plain"})

    return respond


@pytest.fixture
def other_origin():
    """B: a server that would answer like Feishu, on another loopback port."""
    with ScriptedServer(feishu_like()) as server:
        yield server


def pull(hook: FeishuWorkplaceHook) -> list[dict]:
    return list(hook.iter_workplace_block_access_data("2026-11-19", "2026-11-19"))


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_of_the_token_call_is_refused_and_the_secret_stays_home(status, other_origin, monkeypatch):
    with ScriptedServer(redirecting(status, other_origin.url + "{path}?leak=1")) as base:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection(base.url))
        hook = FeishuWorkplaceHook(backoff_base=0.01)

        with pytest.raises(FeishuRedirectError) as caught:
            pull(hook)

    assert other_origin.requests == []
    assert base.paths() == ["/open-apis/auth/v3/tenant_access_token/internal"]  # not retried
    message = str(caught.value)
    assert f"redirect to {other_origin.url}/open-apis/auth/v3/tenant_access_token/internal" in message
    assert "leak" not in message and SECRET not in message
    assert caught.value.http_status == status
    assert caught.value.rerun_can_help is False


@pytest.mark.parametrize("status", [302, 307, 308])
def test_a_redirect_of_a_search_is_refused_and_the_token_stays_home(status, other_origin, monkeypatch):
    with ScriptedServer(redirecting(status, other_origin.url + "{path}", only_search=True)) as base:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection(base.url))
        hook = FeishuWorkplaceHook(backoff_base=0.01)

        with pytest.raises(FeishuRedirectError, match=f"redirect to {other_origin.url}{SEARCH}"):
            pull(hook)

    assert other_origin.requests == []
    assert base.paths() == ["/open-apis/auth/v3/tenant_access_token/internal", SEARCH]


def test_a_store_apps_ticket_is_not_sent_after_a_redirect(other_origin, monkeypatch):
    with ScriptedServer(redirecting(307, other_origin.url + "{path}")) as base:
        extra = {"app_type": "store", "app_ticket": "ticket-must-stay-home", "tenant_key": "tk"}
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection(base.url, extra=extra))

        with pytest.raises(FeishuRedirectError):
            FeishuWorkplaceHook(backoff_base=0.01).get_tenant_access_token()

    assert other_origin.requests == []
    assert base.paths() == ["/open-apis/auth/v3/app_access_token"]


@pytest.mark.parametrize(
    "location, shown",
    [
        pytest.param("http://10.255.255.1/steal?token=x", "http://10.255.255.1/steal", id="http-downgrade-elsewhere"),
        pytest.param("/moved{path}", "/moved/open-apis", id="same-origin-relative"),
        pytest.param("", "no Location", id="no-location"),
    ],
)
def test_no_redirect_is_followed_wherever_it_points(location, shown, monkeypatch):
    with ScriptedServer(redirecting(307, location)) as base:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection(base.url))

        with pytest.raises(FeishuRedirectError, match="redirect to") as caught:
            FeishuWorkplaceHook(backoff_base=0.01).get_tenant_access_token()

    assert len(base.requests) == 1  # the relative one is not followed either, not even on the same origin
    assert shown in str(caught.value)
    assert "token=x" not in str(caught.value)


def test_a_redirect_fails_the_task_at_once(run_dag, feishu_conn, other_origin, monkeypatch):
    with ScriptedServer(redirecting(308, other_origin.url + "{path}")) as base:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection(base.url))

        run = run_dag(
            "redirected",
            pendulum.datetime(2026, 11, 20, tz="UTC"),
            operator_args="retries=3, retry_delay=pendulum.duration(seconds=0)",
        )

    assert run.states["pull"] == "failed"
    assert "which is not followed" in run.log
    assert len(base.requests) == 1 and other_origin.requests == []
