"""The double's test-tool API: connections, reset, exact items, recorded calls, fault kinds, fixtures.

These drive the double over real sockets with plain ``requests``, as a client would; the DAG-level
use is in test_user_style.py and docs/testing-your-dags.md.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from inspect import ismodule
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

from airflow_provider_feishu_workplace import testing
from airflow_provider_feishu_workplace.testing import (
    FAULT_KINDS,
    FaultKind,
    FeishuDouble,
    RecordedRequest,
    ServedDouble,
    served_double,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
INTERNAL_TOKEN = "/open-apis/auth/v3/tenant_access_token/internal"
BLOCK = "/open-apis/workplace/v1/workplace_block_access_data/search"
CUSTOM = "/open-apis/workplace/v1/custom_workplace_access_data/search"
WORKPLACE = "/open-apis/workplace/v1/workplace_access_data/search"


@pytest.fixture
def http():
    with requests.Session() as session:
        yield session


def token(double, http) -> str:
    body = {"app_id": double.app_id, "app_secret": double.app_secret}
    return http.post(double.url + INTERNAL_TOKEN, json=body).json()["tenant_access_token"]


def read_all(double, http, path=BLOCK, *, page_size=200, **params) -> list[dict]:
    """Every item of a query, following page tokens."""
    headers = {"Authorization": f"Bearer {token(double, http)}"}
    items, page_token = [], None
    while True:
        extra = {"page_token": page_token} if page_token else {}
        answer = http.post(double.url + path, params={"page_size": page_size, **params, **extra}, headers=headers)
        data = answer.json()["data"]
        items += data["items"]
        if not data["has_more"]:
            return items
        page_token = data["page_token"]


def block(day: str, block_id: str, pv: int, uv: int) -> dict:
    return {"date": day, "block_id": block_id, "access_data": {"pv": pv, "uv": uv}}


# -- connections --------------------------------------------------------------------------


def test_connection_is_the_json_of_a_feishu_connection_for_the_self_built_app(feishu_double):
    assert json.loads(feishu_double.connection()) == {
        "conn_type": "feishu",
        "host": feishu_double.url,
        "login": feishu_double.app_id,
        "password": feishu_double.app_secret,
    }


def test_store_connection_carries_the_store_app_ticket_and_tenant_key(feishu_double):
    assert json.loads(feishu_double.connection(app_type="store")) == {
        "conn_type": "feishu",
        "host": feishu_double.url,
        "login": feishu_double.store_app_id,
        "password": feishu_double.store_app_secret,
        "extra": {
            "app_type": "store",
            "app_ticket_secret": feishu_double.app_ticket,
            "tenant_key": feishu_double.tenant_key,
        },
    }


@pytest.mark.parametrize(
    ("app_type", "overrides", "expected"),
    [
        pytest.param("self_built", {"password": "wrong"}, {"password": "wrong"}, id="replace-a-field"),
        pytest.param("self_built", {"password": None}, {"password": "<absent>"}, id="none-leaves-a-field-out"),
        pytest.param(
            "store",
            {"extra": {"app_ticket_secret": "stale"}},
            {"extra": {"app_type": "store", "app_ticket_secret": "stale", "tenant_key": "double_tenant_key"}},
            id="extra-is-merged",
        ),
        pytest.param(
            "store",
            {"extra": {"tenant_key": None}},
            {"extra": {"app_type": "store", "app_ticket_secret": "double-app-ticket-0123456789"}},
            id="none-in-extra-leaves-an-extra-out",
        ),
    ],
)
def test_connection_overrides(feishu_double, app_type, overrides, expected):
    conn = json.loads(feishu_double.connection(app_type, **overrides))

    for field, value in expected.items():
        assert conn.get(field, "<absent>") == value


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"app_type": "isv"}, "app_type must be one of ['self_built', 'store'], not 'isv'", id="app-type"),
        pytest.param({"tenant_key": "x"}, "go in extra=", id="extra-field-at-top-level"),
        pytest.param({"extra": "app_type=store"}, "extra must be a dict", id="extra-not-a-dict"),
    ],
)
def test_connection_refuses_bad_arguments_naming_the_fix(feishu_double, kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message.replace("[", r"\[").replace("]", r"\]")):
        feishu_double.connection(**kwargs)


def test_connection_env_sets_the_variable_and_restores_what_was_there(feishu_double, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_OTHER", "previous")
    monkeypatch.delenv("AIRFLOW_CONN_FEISHU_NEW", raising=False)

    with feishu_double.connection_env("feishu_other", app_type="store") as conn_id:
        assert conn_id == "feishu_other"
        assert os.environ["AIRFLOW_CONN_FEISHU_OTHER"] == feishu_double.connection(app_type="store")
    with pytest.raises(RuntimeError, match="boom"), feishu_double.connection_env("feishu_new"):
        assert os.environ["AIRFLOW_CONN_FEISHU_NEW"] == feishu_double.connection()
        raise RuntimeError("boom")

    assert os.environ["AIRFLOW_CONN_FEISHU_OTHER"] == "previous"
    assert "AIRFLOW_CONN_FEISHU_NEW" not in os.environ


def test_connection_env_reaches_airflow_and_the_double(feishu_double):
    from airflow.providers.common.compat.sdk import BaseHook

    with feishu_double.connection_env("feishu_probe"):
        conn = BaseHook.get_connection("feishu_probe")
        answer = requests.post(
            conn.host + INTERNAL_TOKEN, json={"app_id": conn.login, "app_secret": conn.password}, timeout=5
        ).json()

    assert (conn.conn_type, conn.host) == ("feishu", feishu_double.url)
    assert answer["code"] == 0


def test_feishu_connection_fixture_sets_feishu_default_to_the_feishu_double_fixture(feishu_connection, feishu_double):
    assert feishu_connection == "feishu_default"
    assert os.environ["AIRFLOW_CONN_FEISHU_DEFAULT"] == feishu_double.connection()


def test_served_double_gives_its_url_credentials_and_connection(http):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    with served_double("--no-rate-limit", env=env) as served:
        conn = json.loads(served.connection())
        body = {"app_id": conn["login"], "app_secret": conn["password"]}
        answer = http.post(conn["host"] + INTERNAL_TOKEN, json=body)
        with served.connection_env("feishu_served") as conn_id:
            in_env = os.environ["AIRFLOW_CONN_FEISHU_SERVED"]

    assert isinstance(served, ServedDouble)
    assert served.url.startswith("http://127.0.0.1:")
    assert answer.json()["code"] == 0
    assert (conn_id, in_env) == ("feishu_served", served.connection())
    assert json.loads(served.connection(app_type="store"))["extra"]["tenant_key"] == served.tenant_key


# -- exact items --------------------------------------------------------------------------


def test_set_items_serves_exactly_those_items_for_that_day_in_that_order(feishu_double, http):
    exact = [block("2024-01-02", "blk_z", 10, 3), block("2024-01-02", "blk_a", 7, 7)]
    feishu_double.set_items("block", "2024-01-02", exact)

    items = read_all(feishu_double, http, from_date="2024-01-01", to_date="2024-01-03")

    generated = FeishuDouble().expected_items("block", "2024-01-01", "2024-01-03")
    assert items == generated[:5] + exact + generated[10:]
    assert feishu_double.expected_items("block", "2024-01-01", "2024-01-03") == items


def test_set_items_with_no_items_empties_one_data_set_on_one_day(feishu_double, http):
    feishu_double.set_items("custom_workplace", datetime.date(2024, 1, 2), [])

    items = read_all(feishu_double, http, CUSTOM, page_size=2, from_date="2024-01-01", to_date="2024-01-03")

    assert [item["date"] for item in items] == ["2024-01-01"] * 3 + ["2024-01-03"] * 3
    assert len(read_all(feishu_double, http, from_date="2024-01-02", to_date="2024-01-02")) == 5  # blocks kept


@pytest.mark.parametrize("page_size", [1, 2, 3, 4, 6, 200])
def test_exact_items_page_across_page_boundaries_with_generated_days(http, page_size):
    exact = [block("2024-03-01", f"blk_{n:02}", n + 1, 1) for n in range(7)]
    with FeishuDouble(rate_limit_per_second=None) as double:
        double.set_items("block", "2024-03-01", exact)
        items = read_all(double, http, page_size=page_size, from_date="2024-02-28", to_date="2024-03-02")

    generated = FeishuDouble().expected_items("block", "2024-02-28", "2024-03-02")  # 2024 is a leap year
    assert items == generated[:10] + exact + generated[15:]
    assert items == double.expected_items("block", "2024-02-28", "2024-03-02")


def test_exact_items_follow_the_id_filter(feishu_double, http):
    exact = [block("2024-01-01", "blk_x", 1, 1), block("2024-01-01", "blk_y", 2, 1)]
    feishu_double.set_items("block", "2024-01-01", exact)

    items = read_all(feishu_double, http, from_date="2024-01-01", to_date="2024-01-02", block_id="blk_y")

    assert items == [block("2024-01-01", "blk_y", 2, 1)]


def test_exact_items_win_over_unavailable_dates_and_available_until(feishu_double, http):
    feishu_double.unavailable_dates.add(datetime.date(2024, 1, 1))
    feishu_double.available_until = datetime.date(2024, 1, 1)
    feishu_double.set_items("block", "2024-01-01", [block("2024-01-01", "blk_1", 1, 1)])
    feishu_double.set_items("block", "2024-01-03", [block("2024-01-03", "blk_3", 3, 1)])

    items = read_all(feishu_double, http, from_date="2024-01-01", to_date="2024-01-05")

    assert [item["block_id"] for item in items] == ["blk_1", "blk_3"]


def test_served_exact_items_are_copies(feishu_double, http):
    exact = [block("2024-01-01", "blk_1", 1, 1)]
    feishu_double.set_items("block", "2024-01-01", exact)
    exact[0]["access_data"]["pv"] = 99
    feishu_double.inject("hostile", mode="string_pv")

    first = read_all(feishu_double, http, from_date="2024-01-01", to_date="2024-01-01")
    second = read_all(feishu_double, http, from_date="2024-01-01", to_date="2024-01-01")

    assert first[0]["access_data"]["pv"] == "1"
    assert second == [block("2024-01-01", "blk_1", 1, 1)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(("blocks", "2024-01-01", []), "dataset must be one of", id="unknown-dataset"),
        pytest.param(("block", "2024/01/01", []), "YYYY-MM-DD", id="bad-day"),
        pytest.param(("block", "2024-01-01", {"date": "2024-01-01"}), "a list of item objects", id="one-dict"),
        pytest.param(("block", "2024-01-01", ["x"]), "item 0 of block on 2024-01-01 is a str", id="not-a-dict"),
        pytest.param(("block", "2024-01-01", [{"pv": {1, 2}}]), "cannot be sent as JSON", id="not-json"),
    ],
)
def test_set_items_refuses_bad_arguments(feishu_double, args, message):
    with pytest.raises((ValueError, TypeError), match=message):
        feishu_double.set_items(*args)


# -- reset --------------------------------------------------------------------------------


def test_reset_puts_the_double_back_as_it_started(http):
    with FeishuDouble(rate_limit_per_second=2, available_until=datetime.date(2024, 1, 2)) as double:
        old_token = token(double, http)
        token(double, http)  # the token path's bucket (2 a second) is empty now
        double.set_items("block", "2024-01-01", [])
        double.unavailable_dates.add(datetime.date(2024, 1, 2))
        double.available_until = datetime.date(2024, 1, 1)
        double.inject("server_error", endpoint="any", times=None)
        double.advance_clock(3600)

        double.reset()

        assert double.requests == [] and double.issued_tokens == []
        assert (double.available_until, double.unavailable_dates) == (datetime.date(2024, 1, 2), set())
        stale = http.post(
            double.url + BLOCK,
            params={"from_date": "2024-01-01", "to_date": "2024-01-01"},
            headers={"Authorization": f"Bearer {old_token}"},
        ).json()
        items = read_all(double, http, from_date="2024-01-01", to_date="2024-01-05")  # its token request: no 429
        fresh = double.issued_tokens[0]
        double.advance_clock(2 * 3600 - 1)  # the clock starts again at the reset: the new token lives 2 hours
        still_valid = http.post(
            double.url + BLOCK,
            params={"from_date": "2024-01-01", "to_date": "2024-01-01"},
            headers={"Authorization": f"Bearer {fresh}"},
        ).json()

    assert stale["code"] == 99991663  # tokens from before the reset are gone
    assert items == FeishuDouble().expected_items("block", "2024-01-01", "2024-01-02")
    assert still_valid["code"] == 0
    assert [r.status for r in double.requests] == [400, 200, 200, 200]  # nothing injected is left


# -- recorded calls -----------------------------------------------------------------------


def test_calls_select_by_endpoint_group_or_path_in_arrival_order(feishu_double, http):
    read_all(feishu_double, http, page_size=4, from_date="2024-01-01", to_date="2024-01-02")
    read_all(feishu_double, http, CUSTOM, page_size=100, from_date="2024-01-01", to_date="2024-01-01")

    assert feishu_double.calls() == feishu_double.requests
    assert [call.endpoint for call in feishu_double.calls("token")] == ["tenant_access_token_internal"] * 2
    assert [call.query.get("page_token") is None for call in feishu_double.calls("block")] == [True, False, False]
    assert feishu_double.calls(BLOCK) == feishu_double.calls("block")
    assert [call.path for call in feishu_double.calls("search")] == [BLOCK] * 3 + [CUSTOM]
    assert feishu_double.calls("/open-apis/nowhere") == []
    assert feishu_double.count("search") == 4
    received = [call.received_at for call in feishu_double.calls()]
    assert received == sorted(received) and all(isinstance(call, RecordedRequest) for call in feishu_double.calls())


def test_repr_says_where_the_double_runs_and_how_many_requests_it_saw(feishu_double, http):
    token(feishu_double, http)

    assert repr(feishu_double) == f"<FeishuDouble {feishu_double.url}, 1 requests>"
    assert repr(FeishuDouble()) == "<FeishuDouble not running, 0 requests>"


def test_calls_refuses_an_unknown_selector(feishu_double):
    with pytest.raises(ValueError, match="unknown endpoint selector 'blocks'"):
        feishu_double.calls("blocks")


# -- fault kinds --------------------------------------------------------------------------


def test_fault_kind_lists_every_kind_with_a_description_and_its_parameters():
    assert [kind.value for kind in FaultKind] == list(FAULT_KINDS)
    assert all(kind.description for kind in FaultKind)
    assert FaultKind.ERROR.required == ("code",)
    assert FaultKind.HOSTILE.required == ("mode",)
    assert FaultKind.SLOW.defaults == {"delay": 2.0}


def test_inject_takes_a_fault_kind_and_records_its_plain_value(feishu_double, http):
    feishu_double.inject(FaultKind.SERVER_ERROR, endpoint="token", status=503)

    answer = http.post(feishu_double.url + INTERNAL_TOKEN, json={})

    assert answer.status_code == 503
    assert type(feishu_double.calls()[0].fault) is str and feishu_double.calls()[0].fault == "server_error"


def test_faults_command_prints_every_kind_and_hostile_mode():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, "-m", "airflow_provider_feishu_workplace.testing", "faults"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )

    for kind in FaultKind:
        assert f"| `{kind.value}` |" in done.stdout
    for mode in testing.HOSTILE_MODES:
        assert f"| `{mode}` |" in done.stdout


# -- the package's public face ------------------------------------------------------------


def test_public_names_are_in_all_and_modules_behind_them_are_private():
    modules = {path.stem for path in Path(testing.__file__).parent.glob("*.py")}
    public_modules = modules - {name for name in modules if name.startswith("_")}

    # Everything the package's own imports make public is exported, and nothing else.
    imported = {name for name, value in vars(testing).items() if not name.startswith("_") and not ismodule(value)}
    assert sorted(testing.__all__) == sorted(imported)
    assert {"FeishuDouble", "ServedDouble", "served_double", "FaultKind", "PlatformError"} <= imported
    assert all(hasattr(testing, name) for name in testing.__all__)
    assert public_modules <= {"pytest_plugin", "hostile"}


def test_the_double_imports_neither_airflow_nor_the_hook():
    code = (
        "import sys, airflow_provider_feishu_workplace.testing.__main__;"
        "bad = [m for m in sys.modules if m.split('.')[0] == 'airflow' or '.hooks' in m or '.operators' in m"
        " or m.endswith('_workplace.endpoints')];"
        "print(bad)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, check=True)

    assert done.stdout.strip() == "[]"


def test_installed_fixtures_need_no_conftest_and_put_the_connection_back(tmp_path):
    (tmp_path / "test_inner.py").write_text(
        "import json, os\n"
        "def test_set(feishu_connection, feishu_double):\n"
        "    conn = json.loads(os.environ['AIRFLOW_CONN_FEISHU_DEFAULT'])\n"
        "    assert (feishu_connection, conn['host']) == ('feishu_default', feishu_double.url)\n"
        "def test_put_back():\n"
        "    assert os.environ.get('AIRFLOW_CONN_FEISHU_DEFAULT') == 'before'\n"
    )
    env = {name: value for name, value in os.environ.items() if not name.startswith("PYTEST")}
    env["AIRFLOW_CONN_FEISHU_DEFAULT"] = "before"

    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_inner.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stdout[-3000:]
    assert "2 passed" in done.stdout


# -- days that have not ended ---------------------------------------------------------------


def test_a_day_that_has_not_ended_in_the_doubles_time_zone_has_no_items(feishu_double, http):
    today = datetime.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    yesterday, tomorrow = today - datetime.timedelta(days=1), today + datetime.timedelta(days=1)

    items = read_all(feishu_double, http, WORKPLACE, from_date=str(yesterday), to_date=str(tomorrow))

    assert [item["date"] for item in items] == [str(yesterday)]
    assert read_all(feishu_double, http, WORKPLACE, from_date="2099-01-01", to_date="2099-01-31") == []
    assert feishu_double.expected_items("block", today, "2099-01-01") == []


def test_exact_items_for_a_day_that_has_not_ended_are_not_served(feishu_double, http):
    tomorrow = datetime.datetime.now(ZoneInfo("Asia/Shanghai")).date() + datetime.timedelta(days=1)
    feishu_double.set_items("block", tomorrow, [block(str(tomorrow), "blk_a", 1, 1)])

    assert read_all(feishu_double, http, from_date=str(tomorrow), to_date=str(tomorrow)) == []


def test_the_doubles_calendar_follows_its_time_zone(http):
    # Kiritimati (UTC+14) and Niue (UTC-11) are 25 hours apart: never on the same day.
    ahead = datetime.datetime.now(ZoneInfo("Pacific/Kiritimati")).date() - datetime.timedelta(days=1)
    behind = datetime.datetime.now(ZoneInfo("Pacific/Niue")).date() - datetime.timedelta(days=1)
    for timezone, last in (("Pacific/Kiritimati", ahead), ("Pacific/Niue", behind)):
        with FeishuDouble(timezone=timezone) as double:
            items = read_all(
                double, http, WORKPLACE, from_date=str(behind), to_date=str(ahead + datetime.timedelta(days=1))
            )

        assert items[-1]["date"] == str(last)
