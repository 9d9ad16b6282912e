"""The official SDK, lark-oapi 1.7.5, reads the double exactly as it reads Feishu.

The double runs from its command line in a subprocess, as the demo runs it; its data is
deterministic, so an in-process double with the same settings says what the SDK must see.
lark-oapi is imported inside the fixtures: importing it takes seconds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from airflow_provider_feishu_workplace.testing import FeishuDouble, served_double

REPO_ROOT = Path(__file__).resolve().parents[2]
SETTINGS = {"custom_workplaces": 2, "blocks_per_day": 4}

# endpoint -> (request class name, client resource attribute, filter builder method)
ENDPOINTS = {
    "workplace": ("SearchWorkplaceAccessDataRequest", "workplace_access_data", None),
    "custom_workplace": (
        "SearchCustomWorkplaceAccessDataRequest",
        "custom_workplace_access_data",
        "custom_workplace_id",
    ),
    "block": ("SearchWorkplaceBlockAccessDataRequest", "workplace_block_access_data", "block_id"),
}


@pytest.fixture(scope="module")
def lark():
    import lark_oapi

    return lark_oapi


@pytest.fixture(scope="module")
def served():
    """The double's command line in a subprocess: yields its URL and credentials."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    with served_double(
        "--no-rate-limit",  # lark-oapi never retries a 429
        "--custom-workplaces",
        str(SETTINGS["custom_workplaces"]),
        "--blocks-per-day",
        str(SETTINGS["blocks_per_day"]),
        env=env,
    ) as served_info:
        yield served_info


@pytest.fixture(scope="module")
def reference():
    """An in-process double with the served one's settings, never started: it only computes items."""
    return FeishuDouble(**SETTINGS)


def make_client(lark, url: str, app_id: str, app_secret: str, **builder_calls):
    from lark_oapi.core.cache import LocalCache

    builder = (
        lark.Client.builder()
        .app_id(app_id)
        .app_secret(app_secret)
        .domain(url)
        # lark-oapi caches tokens per app id for the whole process: a fresh cache per client keeps
        # a token of an earlier double from being sent to this one.
        .cache(LocalCache())
        .log_level(lark.LogLevel.ERROR)
    )
    for name, value in builder_calls.items():
        builder = getattr(builder, name)(value)
    return builder.build()


def read_all(lark, client, endpoint, from_date, to_date, page_size, option=None, **filters) -> tuple[list[dict], int]:
    """Follow page tokens with the SDK; return the items as plain dicts and the number of pages."""
    request_class, resource_name, _ = ENDPOINTS[endpoint]
    resource = getattr(client.workplace.v1, resource_name)
    items, pages, page_token = [], 0, None
    while True:
        builder = getattr(lark.api.workplace.v1, request_class).builder()
        builder.from_date(from_date).to_date(to_date).page_size(page_size)
        for name, value in filters.items():
            getattr(builder, name)(value)
        if page_token:
            builder.page_token(page_token)
        response = resource.search(builder.build(), option)
        assert response.success(), (response.code, response.msg)
        items += [json.loads(lark.JSON.marshal(item)) for item in response.data.items]
        pages += 1
        if not response.data.has_more:
            assert response.data.page_token is None
            return items, pages
        page_token = response.data.page_token


@pytest.mark.parametrize(
    ("endpoint", "from_date", "to_date", "page_size", "pages"),
    [
        ("workplace", "2023-01-01", "2024-03-25", 200, 3),  # 450 items
        ("custom_workplace", "2024-01-01", "2024-02-29", 100, 2),  # 60 days x 2 workplaces
        ("block", "2024-01-01", "2024-04-29", 200, 3),  # 120 days x 4 blocks
    ],
)
def test_lark_oapi_pages_through_each_endpoint_and_gets_the_expected_items(
    lark, served, reference, endpoint, from_date, to_date, page_size, pages
):
    client = make_client(lark, served.url, served.app_id, served.app_secret)

    items, page_count = read_all(lark, client, endpoint, from_date, to_date, page_size)

    assert page_count == pages
    assert items == reference.expected_items(endpoint, from_date, to_date)


@pytest.mark.parametrize("endpoint", ["custom_workplace", "block"])
def test_lark_oapi_id_filters_reach_the_double(lark, served, reference, endpoint):
    filter_name = ENDPOINTS[endpoint][2]
    wanted = (reference.custom_workplace_ids if endpoint == "custom_workplace" else reference.block_ids)[-1]
    client = make_client(lark, served.url, served.app_id, served.app_secret)

    items, _ = read_all(lark, client, endpoint, "2024-01-01", "2024-01-31", 20, **{filter_name: wanted})

    assert items == reference.expected_items(endpoint, "2024-01-01", "2024-01-31", **{filter_name: wanted})
    assert len(items) == 31


def test_lark_oapi_store_app_gets_tokens_with_ticket_and_tenant_key_and_reads_data(lark, served, reference):
    client = make_client(lark, served.url, served.store_app_id, served.store_app_secret, app_type=lark.AppType.ISV)
    option = lark.RequestOption.builder().tenant_key(served.tenant_key).app_ticket(served.app_ticket).build()

    items, _ = read_all(lark, client, "workplace", "2024-01-01", "2024-01-31", 10, option=option)

    assert items == reference.expected_items("workplace", "2024-01-01", "2024-01-31")


def test_lark_oapi_surfaces_the_endpoints_error_code_and_log_id(lark, served):
    client = make_client(lark, served.url, served.app_id, served.app_secret)
    request = (
        lark.api.workplace.v1.SearchWorkplaceBlockAccessDataRequest.builder()
        .from_date("2024-01-31")
        .to_date("2024-01-01")
        .build()
    )

    response = client.workplace.v1.workplace_block_access_data.search(request)

    assert response.code == 1629002
    assert response.raw.status_code == 400
    assert response.get_log_id()
    # lark-oapi leaves the error object a plain dict.
    assert response.error["log_id"] == response.get_log_id()


def test_lark_oapi_sends_post_with_query_parameters_bearer_token_and_no_body(lark):
    with FeishuDouble(app_id="cli_double_lark_shape") as double:
        client = make_client(lark, double.url, double.app_id, double.app_secret)
        request = (
            lark.api.workplace.v1.SearchCustomWorkplaceAccessDataRequest.builder()
            .from_date("2024-01-01")
            .to_date("2024-01-02")
            .page_size(50)
            .custom_workplace_id("tpl_x")
            .build()
        )
        client.workplace.v1.custom_workplace_access_data.search(request)
        token_request, search_request = double.requests

    assert token_request.endpoint == "tenant_access_token_internal"
    # lark-oapi shares one token request body between calls (a mutable default argument), so after
    # a store-app test in this process it also carries that app's ticket, app token and tenant key.
    assert {key: token_request.body[key] for key in ("app_id", "app_secret")} == {
        "app_id": double.app_id,
        "app_secret": double.app_secret,
    }
    assert search_request.method == "POST"
    assert search_request.endpoint == "custom_workplace"
    assert search_request.query == {
        "from_date": "2024-01-01",
        "to_date": "2024-01-02",
        "page_size": "50",
        "custom_workplace_id": "tpl_x",
    }
    assert search_request.body is None
    assert "content-type" not in search_request.headers
    assert search_request.headers["authorization"] == f"Bearer {double.issued_tokens[0]}"
    assert search_request.headers["user-agent"].startswith("oapi-sdk-python/v1.7.5")
