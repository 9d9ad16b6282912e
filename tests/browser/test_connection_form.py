"""The Feishu connection form as a user meets it in the Airflow UI, in headless Chromium.

One UI server per session (Airflow 3: ``airflow api-server``, React UI; Airflow 2.11: ``airflow webserver``,
Flask form), a Feishu double on loopback that the server's connection tests reach, and a fresh tab per
test. What each Airflow does differently is in tests/browser/airflow_ui.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from airflow_provider_feishu_workplace._connection_fields import CONN_FIELDS, HOOK_NAME, UI_FIELD_BEHAVIOUR
from tests.airflow_versions import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_1_PLUS, fab_connection_form_available, skip_unless
from tests.browser.airflow_ui import HAS_TEST_ICON, HAS_TEST_PORT_BUG, TEST_PORT_BUG

STANDARD = {UI_FIELD_BEHAVIOUR["relabeling"][name]: name for name in ("host", "login", "password")}
EXTRAS = {field["label"]: name for name, field in CONN_FIELDS.items()}
CONN_ID_LABEL = "Connection ID" if AIRFLOW_V_3_0_PLUS else "Connection Id"
# Airflow 3.0 builds a hook's form (relabels, placeholders, extras) only where wtforms and the FAB provider
# are installed, and shows the standard fields under their standard names elsewhere; 3.1's API server
# reads the hook's classmethods with stand-ins for wtforms, 3.2 and later read provider info; Airflow 2's
# Flask UI always builds it.
FORM = AIRFLOW_V_3_1_PLUS or not AIRFLOW_V_3_0_PLUS or fab_connection_form_available()
HOST, LOGIN, PASSWORD = (
    [UI_FIELD_BEHAVIOUR["relabeling"][name] for name in ("host", "login", "password")]
    if FORM
    else ["Host", "Login", "Password"]
)
NO_FORM = "a hook's form needs wtforms and the FAB provider here; without them the standard fields show"
TICKET = "ticket-canary-3f9a7c21"
WRONG_SECRET = "wrong-secret-canary-5e2b"
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "connection-form.png"


def extras_shown() -> None:
    skip_unless(FORM, NO_FORM)


def new_form(ui, page, conn_id: str, values: dict[str, str]) -> None:
    """Open the Add Connection form, pick the Feishu type, type ``values`` (by label) and the id."""
    ui.delete(conn_id)
    ui.open_new_form(page)
    ui.choose_type(page, HOOK_NAME)
    ui.fill(page, {CONN_ID_LABEL: conn_id, **values})


def assert_no_secret(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text


@pytest.mark.parametrize("query", ["Feishu", "Lark", "lark"])
def test_the_type_search_finds_the_feishu_type(airflow_ui, page, query):
    airflow_ui.open_new_form(page)

    assert airflow_ui.search_types(page, query) == [HOOK_NAME]


def test_every_field_shows_its_label_and_its_help(airflow_ui, page):
    skip_unless(FORM, NO_FORM)
    airflow_ui.open_new_form(page)
    airflow_ui.choose_type(page, HOOK_NAME)

    fields = airflow_ui.fields(page)

    # Airflow offers no help line under a standard field: its placeholder is its help.
    for label, name in STANDARD.items():
        assert fields[label]["placeholder"] == UI_FIELD_BEHAVIOUR["placeholders"][name], label
        assert fields[label]["placeholder_fits"], f"{label}'s placeholder is cut off in its input"
    assert "https://open.feishu.cn" in fields["Base URL"]["placeholder"]
    assert "https://open.larksuite.com" in fields["Base URL"]["placeholder"]
    assert "Credentials & Basic Info" in fields["App ID"]["placeholder"]
    assert not {"Port", "Schema", "Host", "Login", "Password"} & set(fields)
    for label, name in EXTRAS.items():
        assert fields[label]["help"] == CONN_FIELDS[name]["description"], label
    assert "Store apps only" in fields["App ticket"]["help"]
    assert "Store apps only" in fields["Tenant key"]["help"]


def test_a_self_built_connection_made_in_the_form_is_stored_as_typed(airflow_ui, page, ui_double):
    new_form(
        airflow_ui,
        page,
        "feishu_form_self_built",
        {HOST: ui_double.url, LOGIN: ui_double.app_id, PASSWORD: ui_double.app_secret},
    )
    airflow_ui.save(page)

    stored = airflow_ui.rest_connection("feishu_form_self_built")
    assert (stored["conn_type"], stored["host"], stored["login"]) == ("feishu", ui_double.url, ui_double.app_id)
    assert stored.get("port") is None
    assert_no_secret(json.dumps(stored), ui_double.app_secret)
    airflow_ui.open_edit_form(page, "feishu_form_self_built")
    shown = airflow_ui.revealed_values(page)
    assert ui_double.url in shown and ui_double.app_id in shown
    assert_no_secret(json.dumps(shown) + page.content(), ui_double.app_secret)


def test_a_store_connection_made_in_the_form_never_shows_its_secret_or_ticket(airflow_ui, page, ui_double):
    extras_shown()
    conn_id = "feishu_form_store"
    new_form(
        airflow_ui,
        page,
        conn_id,
        {
            "App ID": ui_double.store_app_id,
            "App Secret": ui_double.store_app_secret,
            "App type": "store",
            "App ticket": TICKET,
            "Tenant key": ui_double.tenant_key,
        },
    )
    airflow_ui.save(page)

    stored = airflow_ui.rest_connection(conn_id)
    extra = json.loads(stored["extra"])
    assert (stored["login"], extra["app_type"], extra["tenant_key"]) == (
        ui_double.store_app_id,
        "store",
        ui_double.tenant_key,
    )
    assert "app_ticket_secret" in extra
    assert_no_secret(json.dumps(stored) + airflow_ui.rest_connections(), ui_double.store_app_secret, TICKET)
    assert_no_secret(page.content(), ui_double.store_app_secret, TICKET)
    airflow_ui.open_edit_form(page, conn_id)
    shown = airflow_ui.revealed_values(page)
    assert ui_double.tenant_key in json.dumps(shown)
    assert_no_secret(json.dumps(shown) + page.content(), ui_double.store_app_secret, TICKET)


def save_in_form(airflow_ui, page, conn_id: str, double, secret: str) -> None:
    """Save a self-built connection to the double through the form, with ``secret``."""
    new_form(airflow_ui, page, conn_id, {HOST: double.url, LOGIN: double.app_id, PASSWORD: secret})
    airflow_ui.save(page)


@pytest.mark.xfail(HAS_TEST_PORT_BUG, reason=TEST_PORT_BUG, raises=AssertionError, strict=True)
def test_the_test_icon_confirms_a_connection_made_in_the_form(airflow_ui, page, ui_double):
    skip_unless(HAS_TEST_ICON, "the UI has no Test icon in the connection list (Airflow 3.1 added it)")
    save_in_form(airflow_ui, page, "feishu_test_icon", ui_double, ui_double.app_secret)

    toast = airflow_ui.test_connection(page, "feishu_test_icon")

    assert f"Feishu issued a tenant access token to app {ui_double.app_id}" in toast


def test_the_test_messages_for_a_good_and_a_bad_secret_name_the_result_and_no_secret(airflow_ui, page, ui_double):
    """On Airflow 3.3 the request is sent as it will be accepted once apache/airflow#73298 is released."""
    skip_unless(HAS_TEST_ICON or not AIRFLOW_V_3_0_PLUS, "the UI has no Test button for connections (3.1 added it)")
    if AIRFLOW_V_3_0_PLUS:
        save_in_form(airflow_ui, page, "feishu_test_good", ui_double, ui_double.app_secret)
        save_in_form(airflow_ui, page, "feishu_test_bad", ui_double, WRONG_SECRET)
        good = airflow_ui.test_connection(page, "feishu_test_good", apply_port_fix=HAS_TEST_PORT_BUG)
        bad = airflow_ui.test_connection(page, "feishu_test_bad", apply_port_fix=HAS_TEST_PORT_BUG)
    else:  # the Flask form's Test button tests what is typed in the form
        new_form(airflow_ui, page, "feishu_test_typed", {HOST: ui_double.url, LOGIN: ui_double.app_id})
        airflow_ui.fill(page, {PASSWORD: ui_double.app_secret})
        good = airflow_ui.test_connection(page)
        airflow_ui.fill(page, {PASSWORD: WRONG_SECRET})
        bad = airflow_ui.test_connection(page)

    assert f"Feishu issued a tenant access token to app {ui_double.app_id} at {ui_double.url}." in good
    assert "Feishu rejected the app secret" in bad
    assert "App Secret (password)" in bad
    assert_no_secret(good + bad, ui_double.app_secret, WRONG_SECRET)


def test_the_flask_edit_forms_test_button_needs_the_secret_typed_again(airflow_ui, page, ui_double):
    skip_unless(not AIRFLOW_V_3_0_PLUS, "only Airflow 2's Flask form leaves the stored secret out of its test")
    save_in_form(airflow_ui, page, "feishu_flask_edit", ui_double, ui_double.app_secret)
    airflow_ui.open_edit_form(page, "feishu_flask_edit")

    untyped = airflow_ui.test_connection(page)
    airflow_ui.fill(page, {PASSWORD: ui_double.app_secret})
    typed = airflow_ui.test_connection(page)

    assert "has no App Secret" in untyped
    assert f"Feishu issued a tenant access token to app {ui_double.app_id}" in typed


def test_the_filled_form_screenshot(airflow_ui, page, ui_double, tmp_path):
    """The README's picture: a store app's filled form. ``make screenshot`` copies it to docs/."""
    extras_shown()
    new_form(
        airflow_ui,
        page,
        "feishu_default",
        {
            "App ID": "cli_a1b2c3d4e5f6a7b8",  # Base URL left empty: its placeholder (the rules) shows
            "App Secret": "not-a-real-secret",
            "App type": "store",
            "App ticket": TICKET,
            "Tenant key": "2ed263bf32cf1651",
        },
    )
    target = tmp_path / "connection-form.png"
    airflow_ui.form_screenshot(page, target)

    assert target.stat().st_size > 10_000
    if os.environ.get("FEISHU_SCREENSHOT"):
        shutil.copyfile(target, os.environ["FEISHU_SCREENSHOT"])


def test_a_chinese_font_is_installed_for_the_product_names_in_the_help(chromium_path):
    """Without one Chromium draws 自建应用 / 商店应用 in the help (and the screenshot) as empty boxes."""
    fc_list = shutil.which("fc-list")
    fonts = subprocess.run([fc_list, ":lang=zh", "family"], capture_output=True, text=True).stdout if fc_list else ""

    if not fonts.strip() and os.environ.get("CI") not in ("true", "1"):
        pytest.skip("no Chinese font here: scripts/install-chromium.sh installs fonts-noto-cjk")
    assert fonts.strip(), "no Chinese font: scripts/install-chromium.sh installs fonts-noto-cjk"
