"""Item identity is exact, and text that is not text is an item error, in XCom mode and in file mode.

A server on loopback sends the items; the real operator (``dag.test()``) or the hook and the item checks
receive them. Python's ``hash()`` makes 0 and 2**61 - 1 equal: a gate that compared such hashes took a
changed count for an exact repeat and dropped it silently.
"""

from __future__ import annotations

import datetime as dt
import json

import pendulum
import pytest

from airflow_provider_feishu_workplace.exceptions import FeishuItemError
from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook
from airflow_provider_feishu_workplace.items.checks import ItemLedger
from tests.loopback import ScriptedServer, connection, feishu_like, send

DAY = "2026-11-19"
BLOCK = {"date": DAY, "block_id": "blk_1", "access_data": {"pv": 0, "uv": 0}}


def serving(items: list, raw: bytes | None = None):
    """A server answering one page of ``items`` (or the raw JSON body ``raw``)."""
    body = (
        raw
        if raw is not None
        else json.dumps({"code": 0, "msg": "success", "data": {"items": items, "has_more": False}}).encode()
    )
    return ScriptedServer(feishu_like(lambda handler, request: send(handler, 200, body)))


def received(server, monkeypatch, dataset="block") -> list[dict]:
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection(server.url))
    day = dt.date(2026, 11, 19)
    items = FeishuWorkplaceHook().iter_workplace_block_access_data(DAY, DAY)
    return list(ItemLedger(day, day, dataset).filter(items))


def with_counts(pv: int, uv: int, **more) -> dict:
    return {**BLOCK, "access_data": {"pv": pv, "uv": uv}, **more}


@pytest.mark.parametrize(
    "first, second",
    [
        pytest.param(with_counts(0, 0), with_counts(2**61 - 1, 0), id="pv-0-vs-2**61-1"),
        pytest.param(with_counts(5, 1), with_counts(5 + 2**61 - 1, 1), id="pv-5-vs-5+2**61-1"),
        pytest.param(with_counts(3, 0), with_counts(3, 2**61 - 1), id="uv"),
        pytest.param(with_counts(7, 7), with_counts(7, 7, extra="changed"), id="another-field"),
        pytest.param(with_counts(7, 7, extra=1), with_counts(7, 7, extra=True), id="1-vs-true"),
        pytest.param(with_counts(7, 7, extra=1), with_counts(7, 7, extra=1.0), id="1-vs-1.0"),
    ],
)
def test_two_items_of_one_day_and_id_that_differ_at_all_are_a_conflict(first, second, monkeypatch):
    with serving([first, second]) as server, pytest.raises(FeishuItemError, match="twice with different values"):
        received(server, monkeypatch)


def test_an_exact_repeat_is_dropped_whatever_the_order_of_its_keys(monkeypatch):
    reordered = {"access_data": {"uv": 4, "pv": 9}, "block_id": "blk_1", "date": DAY}
    with serving([with_counts(9, 4), reordered]) as server:
        assert received(server, monkeypatch) == [with_counts(9, 4)]


def test_many_distinct_items_never_pass_as_repeats():
    """Keys whose Python hashes collide in pairs: every item is its own (counts that hash alike, within int64)."""
    day = dt.date(2026, 11, 19)
    items = [
        {"date": DAY, "block_id": f"blk_{n}", "access_data": {"pv": n % 4 * (2**61 - 1), "uv": 0}} for n in range(5000)
    ]
    items += [{"date": DAY, "block_id": f"blk_{n}x", "access_data": {"pv": 0, "uv": 0}} for n in range(5000)]
    gate = ItemLedger(day, day, "block")

    assert list(gate.filter(items)) == items
    assert gate.repeated == 0


LONE = '"\\ud800"'  # as the JSON text on the wire


def raw_page(item_json: str) -> bytes:
    return ('{"code": 0, "msg": "success", "data": {"has_more": false, "items": [' + item_json + "]}}").encode()


SURROGATES = [
    pytest.param(
        raw_page(f'{{"date": "{DAY}", "block_id": {LONE}, "access_data": {{"pv": 1, "uv": 1}}}}'),
        "field block_id holds a lone surrogate (U+D800)",
        id="in-the-id",
    ),
    pytest.param(
        raw_page(f'{{"date": "{DAY}", "block_id": "b", "note": {LONE}, "access_data": {{"pv": 1, "uv": 1}}}}'),
        "field note holds a lone surrogate",
        id="in-another-field",
    ),
    pytest.param(
        raw_page(f'{{"date": "{DAY}", "block_id": "b", "access_data": {{"pv": 1, "uv": 1, {LONE}: 2}}}}'),
        "holds a lone surrogate",
        id="in-a-key",
    ),
    pytest.param(
        raw_page('{"date": "2026-11-01", "block_id": "b\\udfff", "access_data": {"pv": 1, "uv": 1}}'),
        "holds a lone surrogate (U+DFFF)",
        id="outside-the-range-too",
    ),
]


@pytest.mark.parametrize("raw, message", SURROGATES)
def test_a_lone_surrogate_is_an_item_error(raw, message, monkeypatch):
    with serving([], raw=raw) as server, pytest.raises(FeishuItemError) as caught:
        received(server, monkeypatch)

    assert message in str(caught.value)


def test_a_surrogate_pair_is_ordinary_text(monkeypatch):
    raw = raw_page(f'{{"date": "{DAY}", "block_id": "\\ud83d\\ude00", "access_data": {{"pv": 1, "uv": 1}}}}')
    with serving([], raw=raw) as server:
        assert received(server, monkeypatch)[0]["block_id"] == "\U0001f600"


# Through the operator, in both modes


@pytest.mark.parametrize("mode", ["xcom", "file"])
@pytest.mark.parametrize(
    "raw, message",
    [
        pytest.param(
            raw_page(f'{{"date": "{DAY}", "block_id": {LONE}, "access_data": {{"pv": 1, "uv": 1}}}}'),
            "holds a lone surrogate",
            id="lone-surrogate",
        ),
        pytest.param(
            json.dumps(
                {
                    "code": 0,
                    "msg": "success",
                    "data": {"has_more": False, "items": [with_counts(0, 0), with_counts(2**61 - 1, 0)]},
                }
            ).encode(),
            "twice with different values",
            id="hash-collision",
        ),
    ],
)
def test_the_operator_fails_the_task_in_both_modes(run_dag, feishu_conn, tmp_path, monkeypatch, mode, raw, message):
    target = tmp_path / "part.jsonl"
    target.write_bytes(b'{"previous":"run"}\n')
    output = f', output_path="file://{target}"' if mode == "file" else ""
    with serving([], raw=raw) as server:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection(server.url))
        run = run_dag(
            f"identity_{mode}",
            pendulum.datetime(2026, 11, 20, tz="UTC"),
            operator="FeishuWorkplaceBlockAccessOperator",
            operator_args=f"page_size=10{output}",
        )

    assert run.states["pull"] == "failed"
    assert message in run.log
    assert run.received is None
    assert target.read_bytes() == b'{"previous":"run"}\n'
