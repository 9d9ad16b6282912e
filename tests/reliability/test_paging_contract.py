"""The paging contract: only a page that clearly ends the data set ends the pull.

A paging server on loopback serves five block items of one day in pages of two (three pages), and changes
one field of one page. Every page that does not clearly end the data set (``has_more`` false and no
``page_token``) must continue or fail with ``FeishuProtocolError``: never a silently short pull. Items that
do not match the requested ``block_id`` / ``custom_workplace_id`` are a protocol error, not data.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import pendulum
import pytest

from airflow_provider_feishu_workplace.exceptions import FeishuProtocolError
from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook
from tests.loopback import ScriptedServer, block_items, connection, feishu_like, send_json

DAY = "2026-11-19"
ITEMS = block_items(DAY, count=5)
PAGE_SIZE = 2


def paging_server(change: Callable[[int, dict], dict] | None = None, items: list[dict] = ITEMS):
    """Pages of ``items``; ``change(page_index, answer)`` may rewrite an answer (``page_index`` from 0)."""

    def search(handler, request):
        size = int(request.query["page_size"])
        offset = int(request.query.get("page_token", "p0")[1:])
        chosen = [i for i in items if request.query.get("block_id") in (None, i["block_id"])]
        page = copy.deepcopy(chosen[offset : offset + size])
        more = offset + size < len(chosen)
        data = {"items": page, "has_more": more}
        if more:
            data["page_token"] = f"p{offset + size}"
        answer = {"code": 0, "msg": "success", "data": data}
        if change is not None:
            answer = change(offset // size, answer)
        send_json(handler, answer)

    return ScriptedServer(feishu_like(search))


def on_page(index: int, edit: Callable[[dict], None]):
    def change(page_index: int, answer: dict) -> dict:
        if page_index == index:
            edit(answer)
        return answer

    return change


def drop(*path):
    def edit(answer):
        target = answer
        for key in path[:-1]:
            target = target[key]
        target.pop(path[-1], None)

    return edit


def put(value, *path):
    def edit(answer):
        target = answer
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return edit


ENDED_WITH_TOKEN = "has_more is false but the page carries a page_token"
MORE_WITHOUT_TOKEN = "has_more is true but there is no page_token"
NO_ITEMS = "no 'items' list but says has_more"


def broken(case_id: str, page: int, edit, message: str):
    """A case: page ``page`` (0-based) edited by ``edit``, the error naming ``message`` after ``page + 1`` searches."""
    return pytest.param(on_page(page, edit), message, page + 1, id=case_id)


BROKEN = [
    broken("token-without-has-more", 0, drop("data", "has_more"), "has_more is missing"),
    broken("last-page-without-has-more", 2, drop("data", "has_more"), "has_more is missing"),
    broken("has-more-null", 0, put(None, "data", "has_more"), "has_more is null, not true or false"),
    broken("has-more-a-string", 0, put("false", "data", "has_more"), "has_more is 'false', not true or false"),
    broken("has-more-1", 0, put(1, "data", "has_more"), "has_more is 1, not true or false"),
    broken("has-more-false-with-token", 0, put(False, "data", "has_more"), ENDED_WITH_TOKEN),
    broken("last-page-with-token", 2, put("p6", "data", "page_token"), ENDED_WITH_TOKEN),
    broken("has-more-without-token", 0, drop("data", "page_token"), MORE_WITHOUT_TOKEN),
    broken("has-more-with-empty-token", 0, put("", "data", "page_token"), MORE_WITHOUT_TOKEN),
    broken("token-a-number", 0, put(2, "data", "page_token"), "page_token is 2, not a string"),
    broken("no-data", 0, drop("data"), "'data' is missing"),
    broken("data-null", 1, put(None, "data"), "'data' is null, not an object"),
    broken("data-a-list", 0, put([], "data"), "'data' is a list, not an object"),
    broken("no-items-with-more", 0, drop("data", "items"), NO_ITEMS),
    broken("items-null-with-more", 1, put(None, "data", "items"), NO_ITEMS),
    broken("items-an-object", 2, put({"0": 1}, "data", "items"), "'items' is a dict, not a list"),
]


def pull(hook: FeishuWorkplaceHook, **kwargs) -> list[dict]:
    return list(hook.iter_workplace_block_access_data(DAY, DAY, page_size=PAGE_SIZE, **kwargs))


@pytest.mark.parametrize("change, message, searches", BROKEN)
def test_a_page_that_does_not_clearly_end_the_data_never_ends_the_pull_silently(change, message, searches, monkeypatch):
    with paging_server(change) as server:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection(server.url))
        with pytest.raises(FeishuProtocolError, match="broke the paging contract") as caught:
            pull(FeishuWorkplaceHook(backoff_base=0.01))

    assert message in str(caught.value)
    assert sum("search" in r.path for r in server.requests) == searches  # a protocol error is not retried


ENDS = [
    pytest.param(None, id="normal"),
    pytest.param(on_page(2, put("", "data", "page_token")), id="last-page-empty-token"),
    pytest.param(on_page(2, put(None, "data", "page_token")), id="last-page-null-token"),
]


@pytest.mark.parametrize("change", ENDS)
def test_a_page_that_clearly_ends_the_data_ends_the_pull(change, monkeypatch):
    with paging_server(change) as server:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection(server.url))
        assert pull(FeishuWorkplaceHook()) == ITEMS


def test_an_empty_last_page_may_leave_out_its_items(monkeypatch):
    def change(page_index, answer):
        return {"code": 0, "msg": "success", "data": {"has_more": False}}

    with paging_server(change) as server:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection(server.url))
        assert pull(FeishuWorkplaceHook()) == []


# Items that do not match the filter


def test_an_item_of_another_block_than_asked_for_is_a_protocol_error(monkeypatch):
    with paging_server(on_page(0, put([ITEMS[1]], "data", "items"))) as server:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection(server.url))
        with pytest.raises(FeishuProtocolError, match="item #1 has block_id 'blk_1', but only block_id 'blk_3' was"):
            pull(FeishuWorkplaceHook(), block_id="blk_3")


def test_an_item_without_the_filtered_field_is_a_protocol_error(monkeypatch):
    with paging_server(on_page(0, drop("data", "items", 0, "block_id"))) as server:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection(server.url))
        with pytest.raises(FeishuProtocolError, match="item #1 has no block_id, but only block_id 'blk_2' was"):
            pull(FeishuWorkplaceHook(), block_id=" blk_2 ")


def test_a_foreign_item_on_a_later_page_is_counted_from_the_start(monkeypatch):
    items = [{**ITEMS[0], "date": f"2026-11-{day}"} for day in range(10, 20)]  # blk_0 on ten days

    def swap(answer):
        answer["data"]["items"][1] = ITEMS[4]

    with paging_server(on_page(1, swap), items=[{**i, "date": DAY} for i in items]) as server:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection(server.url))
        with pytest.raises(FeishuProtocolError, match="item #4 has block_id 'blk_4'"):
            pull(FeishuWorkplaceHook(), block_id="blk_0")


def test_a_custom_workplace_of_another_id_is_a_protocol_error(monkeypatch):
    other = {
        "custom_workplace_id": "cw_other",
        "date": DAY,
        "access_data": {"pv": 1, "uv": 1},
        "custom_workplace_name": [],
    }

    def search(handler, request):
        send_json(handler, {"code": 0, "msg": "success", "data": {"items": [other], "has_more": False}})

    with ScriptedServer(feishu_like(search)) as server:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection(server.url))
        with pytest.raises(FeishuProtocolError, match="custom_workplace_id 'cw_other', but only custom_workplace_id"):
            list(FeishuWorkplaceHook().iter_custom_workplace_access_data(DAY, DAY, custom_workplace_id="cw_1"))


def test_the_matching_items_of_a_filtered_query_pass(monkeypatch):
    with paging_server() as server:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection(server.url))
        assert pull(FeishuWorkplaceHook(), block_id="blk_2") == [ITEMS[2]]


# Through the operator: the task fails and the previous file stays


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(on_page(1, drop("data", "has_more")), id="token-without-has-more"),
        pytest.param(on_page(0, put(False, "data", "has_more")), id="has-more-false-with-token"),
    ],
)
def test_a_broken_page_fails_the_task_and_keeps_the_previous_file(run_dag, feishu_conn, tmp_path, monkeypatch, change):
    target = tmp_path / "part.jsonl"
    target.write_bytes(b'{"previous":"run"}\n')
    with paging_server(change) as server:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection(server.url))
        run = run_dag(
            "paging_contract",
            pendulum.datetime(2026, 11, 20, tz="UTC"),
            operator="FeishuWorkplaceBlockAccessOperator",
            operator_args=f'output_path="file://{target}", page_size={PAGE_SIZE}',
        )

    assert run.states["pull"] == "failed"
    assert "broke the paging contract" in run.log
    assert target.read_bytes() == b'{"previous":"run"}\n'
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left behind
