"""A server can be wrong too: every hostile answer the double gives, through the real hook and the real operator.

Each mode of the double's ``hostile`` fault answers HTTP 200 and code 0 but breaks the API's contract. Each
must end in a clear error or in a logged, counted correction, after a bounded number of requests: never a
loop, never a silently wrong file. Page-level violations are the hook's to catch (``FeishuProtocolError``);
item-level ones pass the hook unchanged and are caught by the operator's item checks (``FeishuItemError``)
before the output file is replaced.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import pendulum
import pytest

from airflow_provider_feishu_workplace.exceptions import (
    FeishuConfigError,
    FeishuItemError,
    FeishuProtocolError,
)
from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook
from airflow_provider_feishu_workplace.testing import HOSTILE_MODES, FeishuDouble
from tests.conftest import connection_json

DAY = "2026-11-19"
LOGICAL_DATE = pendulum.datetime(2026, 11, 20, tz="UTC")  # a daily run then pulls DAY
OPERATORS = {
    "workplace": "FeishuWorkplaceAccessOperator",
    "custom_workplace": "FeishuCustomWorkplaceAccessOperator",
    "block": "FeishuWorkplaceBlockAccessOperator",
}
SERVER_AT_FAULT = "The server broke the API's contract"
PREVIOUS = b'{"previous":"run"}\n'


@dataclass(frozen=True)
class Case:
    """One hostile answer and what it must end in.

    The day has five blocks; pages of two take three requests and, with ``skip=1``, the hostile answer is
    the second page, whose first item is the day's third (``{item[...]}`` in ``message``).
    """

    mode: str
    message: str  # a fragment of the error, or of the log for a correction; formatted with item=
    error: type[Exception] | None  # None: a logged, counted correction and a complete file
    searches: int  # search requests the hook alone sends (and has answered)
    inject: dict = field(default_factory=lambda: {"skip": 1})
    dataset: str = "block"
    page_size: int = 2
    output: Callable[[list[dict]], list[dict]] = lambda expected: expected  # the file a correction writes
    previous_item: bool = False  # the message names the item before the hostile page, not its first

    @property
    def item_level(self) -> bool:
        """Whether the hook passes the answer on unchanged (the items are checked where they are used)."""
        return self.error is None or self.error is FeishuItemError

    @property
    def operator_searches(self) -> int:
        """Search requests the operator sends: a bad item stops the pull before the next page is asked for."""
        return self.inject.get("skip", 0) + 1 if self.error is FeishuItemError else self.searches


def uv_raised(expected: list[dict]) -> list[dict]:
    item = expected[2]
    changed = {**item, "access_data": {**item["access_data"], "uv": item["access_data"]["pv"] + 1}}
    return [*expected[:2], changed, *expected[3:]]


def item_error(case_id: str, mode: str, message: str, searches: int = 3, inject: dict | None = None, **options):
    """A hostile item the operator's checks refuse (``FeishuItemError``); by default on the second page."""
    inject = {"skip": 1} if inject is None else inject
    return pytest.param(Case(mode, message, FeishuItemError, searches, inject, **options), id=case_id)


def page_error(case_id: str, mode: str, message: str, searches: int, inject: dict | None = None, **options):
    """A hostile page the hook refuses (``FeishuProtocolError``); by default the second page."""
    inject = {"skip": 1} if inject is None else inject
    return pytest.param(Case(mode, message, FeishuProtocolError, searches, inject, **options), id=case_id)


def corrected(case_id: str, mode: str, message: str, **options):
    """A hostile answer the operator corrects, logs and counts, writing a complete file."""
    return pytest.param(Case(mode, message, None, 3, **options), id=case_id)


NAMES = "(date 2026-11-19, block_id '{item[block_id]}'), item #3 received: field"
TOKEN_AGAIN = "handed out a page_token it had handed out before"
HUGE_BODY = "with more than 10 MiB, far more than any page takes"
CASES = [
    # items with missing fields
    item_error("no-access-data", "missing_field", f"{NAMES} access_data is missing"),
    item_error(
        "no-date",
        "missing_field",
        "(date missing, block_id '{item[block_id]}'), item #3 received: field date is missing",
        inject={"skip": 1, "field": "date"},
    ),
    item_error(
        "no-block-id",
        "missing_field",
        "(date 2026-11-19, block_id missing), item #3 received: field block_id is missing",
        inject={"skip": 1, "field": "block_id"},
    ),
    item_error(
        "no-uv", "missing_field", f"{NAMES} access_data.uv is missing", inject={"skip": 1, "field": "access_data.uv"}
    ),
    # wrong types
    item_error(
        "string-pv",
        "string_pv",
        f"{NAMES} access_data.pv is '{{item[access_data][pv]}}' (a string), not a whole number",
    ),
    item_error(
        "string-pv-workplace",
        "string_pv",
        "workplace item (date 2026-11-19), item #1 received: field all_workplace.pv is '",
        searches=1,
        inject={},
        dataset="workplace",
    ),
    item_error("null-access-data", "null_access_data", f"{NAMES} access_data is None (null)"),
    item_error(
        "null-access-data-custom",
        "null_access_data",
        "custom_workplace item (date 2026-11-19, custom_workplace_id '",
        searches=1,
        inject={},
        dataset="custom_workplace",
        page_size=100,
    ),
    item_error("item-not-an-object", "not_an_object", "block item that is not an object: item #3 received is a string"),
    # negative and doubtful counts
    item_error(
        "negative-pv",
        "negative_pv",
        f"{NAMES} access_data.pv is -{{item[access_data][pv]}}: a count cannot be negative",
    ),
    item_error(
        "negative-uv",
        "negative_uv",
        f"{NAMES} access_data.uv is -{{item[access_data][uv]}}: a count cannot be negative",
    ),
    corrected(
        "uv-above-pv-kept-and-counted",
        "uv_above_pv",
        "1 block items had uv greater than pv; they were kept as Feishu sent them",
        output=uv_raised,
    ),
    # days outside the range, repeats and conflicts
    corrected(
        "out-of-range-dropped-and-counted",
        "out_of_range_date",
        "Dropped 0 repeated items and 1 items for days outside 2026-11-19..2026-11-19",
    ),
    corrected(
        "repeat-on-next-page-dropped-and-counted",
        "duplicate_item",
        "Dropped 1 repeated items and 0 items for days outside",
    ),
    item_error(
        "conflicting-repeat",
        "conflicting_duplicate",
        "(date 2026-11-19, block_id '{item[block_id]}') twice with different values "
        '(item #3 received has {{"access_data": {{"pv": ',
        previous_item=True,
    ),
    # paging
    page_error("has-more-without-token", "has_more_without_token", "has_more is true but there is no page_token", 2),
    page_error(
        "token-repeats-forever", "repeat_token", f"{TOKEN_AGAIN}, so paging would loop", 2, {"skip": 1, "times": None}
    ),
    page_error("token-cycle-a-b-a", "token_cycle", TOKEN_AGAIN, 3, {"times": None}, page_size=1),
    # The default budget of a one-day query: 10,000 items a day in pages of 200.
    page_error(
        "endless-new-tokens", "endless_pages", "it still had more after 50 pages", 50, {"times": None}, page_size=200
    ),
    page_error(
        "endless-empty-pages",
        "empty_pages",
        "3 empty pages in a row each said has_more",
        4,
        {"skip": 1, "times": None},
    ),
    # answers larger than any page
    page_error("more-items-than-page-size", "oversized_page", "the page has 3 items, more than the page_size of 2", 2),
    page_error("huge-body", "huge_body", HUGE_BODY, 2),
    page_error("huge-body-without-content-length", "huge_body", HUGE_BODY, 2, {"skip": 1, "content_length": False}),
]


def answered_searches(double, dataset: str) -> int:
    """Search requests the double answered (rate-limited ones, retried, are not counted)."""
    return sum(1 for r in double.requests if r.endpoint == dataset and r.status == 200)


def named_item(double, case: Case) -> dict:
    """The item the case's message names: the first of the hostile page, or the one before it."""
    expected = double.expected_items(case.dataset, DAY, DAY)
    index = case.inject.get("skip", 0) * case.page_size - case.previous_item
    return expected[index] if len(expected) > 2 else expected[0]


def test_every_hostile_mode_is_in_the_table():
    modes = {param.values[0].mode for param in CASES}

    assert modes == set(HOSTILE_MODES)


@pytest.mark.parametrize("case", CASES)
def test_hostile_answer_through_the_hook(make_hook, feishu_conn, case):
    feishu_conn.inject("hostile", endpoint=case.dataset, mode=case.mode, **case.inject)
    expected = feishu_conn.expected_items(case.dataset, DAY, DAY)
    pull = make_hook().iter_access_data(case.dataset, DAY, DAY, page_size=case.page_size)

    if case.item_level:  # the hook's contract: the API's items, unchanged
        items = list(pull)
        assert items != expected
        assert len(items) in (len(expected), len(expected) + 1)
    else:
        with pytest.raises(FeishuProtocolError) as caught:
            list(pull)
        assert type(caught.value) is case.error
        assert case.message.format(item=named_item(feishu_conn, case)) in str(caught.value)
        assert SERVER_AT_FAULT in str(caught.value)
        assert caught.value.retryable is False
    assert answered_searches(feishu_conn, case.dataset) == case.searches


@pytest.mark.parametrize("case", CASES)
def test_hostile_answer_through_the_operator(run_dag, feishu_conn, tmp_path, case):
    target = tmp_path / "lake" / "part.jsonl"
    target.parent.mkdir()
    target.write_bytes(PREVIOUS)
    item = named_item(feishu_conn, case)
    expected = feishu_conn.expected_items(case.dataset, DAY, DAY)
    feishu_conn.inject("hostile", endpoint=case.dataset, mode=case.mode, **case.inject)

    run = run_dag(
        "hostile",
        LOGICAL_DATE,
        operator=OPERATORS[case.dataset],
        operator_args=f'output_path="file://{target}", page_size={case.page_size}',
    )

    assert case.message.format(item=item) in run.log
    if case.error is None:
        assert run.states == {"pull": "success", "receive": "success"}
        lines = target.read_text(encoding="utf-8").splitlines()
        assert [json.loads(line) for line in lines] == case.output(expected)
    else:
        assert run.states["pull"] == "failed"
        assert case.error.__name__ in run.log
        assert target.read_bytes() == PREVIOUS
    assert sorted(path.name for path in target.parent.iterdir()) == ["part.jsonl"]  # no .part.jsonl.tmp left
    assert answered_searches(feishu_conn, case.dataset) == case.operator_searches


def test_max_pages_bounds_an_endless_answer(make_hook, feishu_conn):
    feishu_conn.inject("hostile", endpoint="block", times=None, mode="endless_pages")

    pull = make_hook(max_pages=7).iter_workplace_block_access_data(DAY, DAY, page_size=2)

    with pytest.raises(FeishuProtocolError, match=r"still had more after 7 pages, .* \(max_pages=7; pass a larger"):
        list(pull)

    assert feishu_conn.count("block") == 7


def test_max_pages_does_not_stop_an_answer_that_ends_in_time(make_hook, feishu_conn):
    items = list(make_hook(max_pages=3).iter_workplace_block_access_data(DAY, DAY, page_size=2))

    assert items == feishu_conn.expected_items("block", DAY, DAY)
    assert feishu_conn.count("block") == 3


def test_default_page_budget_grows_with_the_range(monkeypatch):
    # Three days in pages of 200: 3 x 10,000 / 200 = 150 pages, then an endless answer is stopped.
    with FeishuDouble(rate_limit_per_second=None) as double:  # no limiter, no pacing: 150 pages take no time
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection_json(double))
        double.inject("hostile", endpoint="block", times=None, mode="endless_pages")
        hook = FeishuWorkplaceHook(requests_per_second=None)

        with pytest.raises(FeishuProtocolError, match=r"it still had more after 150 pages, .*\(max_pages=150;"):
            list(hook.iter_workplace_block_access_data("2026-11-17", DAY))
        hook.close()

    assert double.count("block") == 150


@pytest.mark.parametrize("value", [0, -1, True, 2.5, "10"])
def test_bad_max_pages_is_refused_at_construction(value):
    with pytest.raises(FeishuConfigError, match=f"max_pages={value!r} must be a whole number"):
        FeishuWorkplaceHook(max_pages=value)


# Items the double does not produce, straight through the operator's item checks.

BLOCK = {"date": DAY, "block_id": "blk_1", "access_data": {"pv": 12, "uv": 3}}
CUSTOM = {
    "custom_workplace_id": "tpl_1",
    "date": DAY,
    "access_data": {"pv": 12, "uv": 3},
    "custom_workplace_name": [{"language": "zh_cn", "name": "销售工作台"}, {"language": "en_us", "name": "Sales"}],
}
WORKPLACE = {"date": DAY, "all_workplace": {"pv": 12, "uv": 3}, "default_workplace": {"pv": 6, "uv": 2}}
MALFORMED = [
    pytest.param(
        "block",
        {**BLOCK, "access_data": {"pv": True, "uv": 3}},
        "(date 2026-11-19, block_id 'blk_1'), item #1 received: field access_data.pv is True (a boolean)",
        id="bool-pv",
    ),
    pytest.param(
        "block",
        {**BLOCK, "access_data": {"pv": 12.0, "uv": 3}},
        "field access_data.pv is 12.0 (a number), not a whole number",
        id="float-pv",
    ),
    pytest.param(
        "block",
        {**BLOCK, "date": "2026/11/19"},
        "field date is '2026/11/19' (a string), not a 'YYYY-MM-DD' date",
        id="date-with-slashes",
    ),
    pytest.param("block", {**BLOCK, "date": 20261119}, "field date is 20261119 (a number)", id="date-number"),
    pytest.param("block", {**BLOCK, "date": "2026-02-30"}, "field date is '2026-02-30'", id="impossible-date"),
    pytest.param(
        "block",
        {**BLOCK, "date": "2026-11-18", "access_data": {"pv": -1, "uv": 0}},
        "(date 2026-11-18, block_id 'blk_1')",
        id="malformed-outside-the-range-still-fails",
    ),
    pytest.param("block", {**BLOCK, "block_id": ""}, "field block_id is '' (a string), not a non-empty", id="empty-id"),
    pytest.param("block", {**BLOCK, "block_id": 7}, "field block_id is 7 (a number)", id="number-id"),
    pytest.param(
        "custom_workplace",
        {**CUSTOM, "custom_workplace_name": "Sales"},
        "(date 2026-11-19, custom_workplace_id 'tpl_1'), item #1 received: field custom_workplace_name is "
        "'Sales' (a string), not a list",
        id="names-not-a-list",
    ),
    pytest.param(
        "custom_workplace",
        {**CUSTOM, "custom_workplace_name": [None]},
        "field custom_workplace_name[0] is None (null), not an object",
        id="name-not-an-object",
    ),
    pytest.param(
        "custom_workplace",
        {**CUSTOM, "custom_workplace_name": [{"language": "zh_cn", "name": 5}]},
        "field custom_workplace_name[0].name is 5 (a number), not a string",
        id="name-a-number",
    ),
    pytest.param(
        "custom_workplace",
        {**CUSTOM, "custom_workplace_id": None},
        "custom_workplace_id None), item #1 received: field custom_workplace_id is None (null)",
        id="null-id",
    ),
    pytest.param(
        "workplace",
        {k: v for k, v in WORKPLACE.items() if k != "default_workplace"},
        "workplace item (date 2026-11-19), item #1 received: field default_workplace is missing",
        id="workplace-without-default",
    ),
    pytest.param(
        "workplace",
        {**WORKPLACE, "all_workplace": [12, 3]},
        "field all_workplace is [12, 3] (a list), not an object with pv and uv",
        id="counts-a-list",
    ),
]


def gate(dataset):
    from airflow_provider_feishu_workplace.items.checks import ItemLedger

    day = pendulum.date(2026, 11, 19)
    return ItemLedger(day, day, dataset)


@pytest.mark.parametrize("dataset, item, message", MALFORMED)
def test_malformed_item_fails_naming_the_date_the_id_and_the_field(dataset, item, message):
    with pytest.raises(FeishuItemError) as caught:
        list(gate(dataset).filter([item]))

    assert message in str(caught.value)
    assert "The server broke the API's contract, not the request" in str(caught.value)


def test_custom_workplace_renamed_between_two_copies_is_a_conflict():
    renamed = {**CUSTOM, "custom_workplace_name": [{"language": "zh_cn", "name": "销售"}]}

    with pytest.raises(FeishuItemError, match="custom_workplace_id 'tpl_1'.* twice with different values"):
        list(gate("custom_workplace").filter([CUSTOM, renamed]))


def test_exact_repeats_are_dropped_and_counted_and_only_the_first_few_logged_one_by_one(capsys):
    checks = gate("block")

    passed = list(checks.filter([BLOCK] * 12))

    assert passed == [BLOCK] and checks.repeated == 11
    out = capsys.readouterr().out
    assert out.count("an exact repeat of an item already passed") == 5
    assert out.count("More block items like these (repeated) are counted, not logged one by one") == 1
