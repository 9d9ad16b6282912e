"""The served double's control API: what live tests of a deployment steer the double with, over HTTP."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from airflow_provider_feishu_workplace.exceptions import FeishuApiError
from airflow_provider_feishu_workplace.testing import served_double

REPO_ROOT = Path(__file__).resolve().parents[2]
DAY = "2026-10-01"


@pytest.fixture(scope="module")
def served():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    with served_double("--no-rate-limit", "--max-requests", "5", env=env) as double:
        yield double


def authorized(served, path: str) -> urllib.request.Request:
    """A control request carrying the run's token."""
    return urllib.request.Request(
        served.control_url + path, headers={"Authorization": f"Bearer {served.control_token}"}
    )


@pytest.fixture
def hook(served):
    from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook

    served.reset()
    with served.connection_env("feishu_served"):
        hook = FeishuWorkplaceHook("feishu_served", backoff_base=0.01, backoff_max=0.05, timeout=5)
        yield hook
        hook.close()


def test_the_control_api_listens_on_loopback_on_a_port_of_its_own(served):
    with urllib.request.urlopen(authorized(served, "/health"), timeout=5) as answer:
        health = json.loads(answer.read())

    assert served.control_url.startswith("http://127.0.0.1:")
    assert served.control_url != served.url
    assert health == {"ok": True, "url": served.url}


def test_a_day_published_late_has_no_items_until_its_time_comes(served, hook):
    held = served.publish_at(DAY, 60)
    before = list(hook.iter_access_data("block", DAY, DAY))
    served.publish_at(DAY, 0.5)  # due half a second from now instead
    time.sleep(0.6)
    after = list(hook.iter_access_data("block", DAY, DAY))

    assert held is False
    assert before == []
    assert len(after) == 5 and served.is_published(DAY)


def test_a_day_held_without_a_time_stays_held_until_published(served, hook):
    served.publish_at(DAY, None)
    held = list(hook.iter_access_data("workplace", DAY, DAY))
    served.publish_at(DAY, 0)

    assert held == []
    assert [item["date"] for item in hook.iter_access_data("workplace", DAY, DAY)] == [DAY]


def test_a_fault_queued_over_http_reaches_the_next_search(served, hook):
    served.inject("quota", endpoint="block")

    with pytest.raises(FeishuApiError) as raised:
        list(hook.iter_access_data("block", DAY, DAY))
    items = list(hook.iter_access_data("block", DAY, DAY))

    assert raised.value.code == 99991403
    assert len(items) == 5


def test_the_request_log_is_bounded_but_the_counts_cover_every_request(served, hook):
    for _ in range(4):
        list(hook.iter_access_data("block", DAY, DAY))  # a token request, then one search each
    served.inject("rate_limit", endpoint="block", times=2)
    list(hook.iter_access_data("block", DAY, DAY))

    log = served.requests()
    stats = served.stats()

    assert len(log) == 5  # --max-requests 5
    assert [entry["status"] for entry in log] == [200, 200, 429, 429, 200]
    assert stats["total"] == 8
    assert stats["by_endpoint"]["block"] == {"200": 5, "429": 2}
    assert stats["by_endpoint"]["tenant_access_token_internal"] == {"200": 1}


def test_the_request_log_over_http_carries_no_credential(served, hook):
    list(hook.iter_access_data("block", DAY, DAY))
    text = json.dumps(served.requests(limit=10))

    token_request = served.requests("token")[0]
    assert token_request["body"] == {"app_id": served.app_id, "app_secret": "***"}
    assert served.requests("block")[0]["headers"]["authorization"] == "***"
    assert served.app_secret not in text and "Bearer" not in text


def test_clearing_the_log_resets_the_counts(served, hook):
    list(hook.iter_access_data("block", DAY, DAY))
    served.clear_requests()

    assert served.requests() == []
    assert served.stats() == {"total": 0, "by_endpoint": {}}


def test_an_endpoint_added_over_http_is_served_like_the_real_ones(served, hook):
    from airflow_provider_feishu_workplace.endpoints import WORKPLACE_SCOPE, SearchEndpoint

    path = "/open-apis/workplace/v1/control_access_data/search"
    codes = {"bad_date": 1690001, "bad_range": 1690002, "internal_error": 1690003, "bad_page_token": 1690004}
    served.add_endpoint("control", path=path, id_field="item", ids=("x", "y"), counts=("access_data",), **codes)
    record = SearchEndpoint(
        "control", path, 200, "item", ("access_data",), internal_error_code=1690003, scope=WORKPLACE_SCOPE
    )
    served.inject("internal_error", endpoint="control")

    items = list(hook.iter_access_data(record, DAY, DAY))

    assert [(item["date"], item["item"]) for item in items] == [(DAY, "x"), (DAY, "y")]
    assert [request["code"] for request in served.requests("control")] == [1690003, 0]
    with pytest.raises(ValueError, match="control API refused POST /endpoints: .*is served already"):
        served.add_endpoint("control2", path=path, id_field=None, **codes)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(lambda s: s.inject("no_such_fault"), "no_such_fault", id="unknown-fault-kind"),
        pytest.param(lambda s: s.publish_at("2026-13-01", 1), "2026-13-01", id="bad-day"),
        pytest.param(lambda s: s.publish_at(DAY, -1), "seconds_from_now=-1", id="negative-delay"),
        pytest.param(lambda s: s.requests(limit=0), "limit=0", id="bad-limit"),
    ],
)
def test_a_bad_control_request_is_refused_naming_the_bad_value(served, call, message):
    with pytest.raises(ValueError, match="control API refused") as raised:
        call(served)

    assert message in str(raised.value)


def test_an_unknown_control_path_answers_404_listing_the_routes(served):
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(authorized(served, "/nope"), timeout=5)

    assert raised.value.code == 404
    assert "POST /publish" in json.loads(raised.value.read())["error"]
