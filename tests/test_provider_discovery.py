"""The provider as Airflow's own CLI sees it: discovery, the connection type, and connection tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import airflow_provider_feishu_workplace
from airflow_provider_feishu_workplace.get_provider_info import get_provider_info
from tests.airflow_versions import (
    CONNECTIONS_TEST_FAILURE_EXIT_CODE,
    FLASK_CONNECTION_FORM,
    fab_connection_form_available,
    skip_unless,
)
from tests.conftest import connection_json
from tests.imports import modules_loaded_by

AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def run_airflow(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow"), **env}
    return subprocess.run([AIRFLOW, *args], capture_output=True, text=True, env=full_env, timeout=120)


def json_rows(stdout: str) -> list[dict]:
    """Return the JSON table of an ``--output json`` command (Airflow may log lines around it, "[<time>] ...")."""
    return json.loads(next(line for line in stdout.splitlines() if line.startswith(("[{", "[]"))))


def test_provider_info_passes_airflows_schema():
    import jsonschema
    from airflow import providers_manager

    schema_path = Path(providers_manager.__file__).with_name("provider_info.schema.json")
    jsonschema.validate(get_provider_info(), json.loads(schema_path.read_text()))


def test_package_init_and_provider_info_import_only_plain_data():
    loaded = modules_loaded_by("airflow_provider_feishu_workplace.get_provider_info")

    assert loaded == [
        "airflow_provider_feishu_workplace",
        "airflow_provider_feishu_workplace._connection_fields",
        "airflow_provider_feishu_workplace.get_provider_info",
    ]


def test_airflow_providers_list_shows_the_package(tmp_path):
    result = run_airflow("providers", "list", "--output", "json", tmp_path=tmp_path)

    packages = {entry["package_name"]: entry for entry in json_rows(result.stdout)}
    assert packages["airflow-provider-feishu-workplace"]["version"] == airflow_provider_feishu_workplace.__version__


def test_airflow_providers_hooks_shows_the_feishu_connection_type(tmp_path):
    result = run_airflow("providers", "hooks", "--output", "json", tmp_path=tmp_path)

    hooks = {entry["connection_type"]: entry for entry in json_rows(result.stdout)}
    assert hooks["feishu"]["class"].endswith("hooks.feishu.FeishuHook")
    assert hooks["feishu"]["conn_id_attribute_name"] == "feishu_conn_id"


def test_connection_form_declares_the_feishu_fields(tmp_path):
    skip_unless(
        fab_connection_form_available(),
        "connection forms come from hook classmethods here, which need the FAB provider (wtforms, flask_appbuilder)",
    )
    # Airflow 3.2+ holds the fields from provider info as dicts, the Flask form's as unbound WTForms fields.
    code = (
        "import json; from airflow.providers_manager import ProvidersManager as P; p = P();"
        "w = {k: [str(v.field.args[0]) if hasattr(v.field, 'args') else v.field['schema']['title'], v.is_sensitive] "
        "for k, v in p.connection_form_widgets.items() if k.startswith('extra__feishu__')};"
        "print(json.dumps({'widgets': w, 'behaviour': p.field_behaviours.get('feishu')}, default=str))"
    )
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    form = json.loads(out.strip().splitlines()[-1])

    assert form["widgets"] == {
        "extra__feishu__app_type": ["App type", False],
        "extra__feishu__app_ticket_secret": ["App ticket", True],  # masked in the form and the logs
        "extra__feishu__tenant_key": ["Tenant key", False],
        "extra__feishu__encrypt_key_secret": ["Encrypt Key", True],  # the store-app receiver's secrets
        "extra__feishu__verification_token": ["Verification Token", True],
        "extra__feishu__shared_rate_limit": ["Shared rate limit", False],  # a URL without its password
        "extra__feishu__shared_rate_limit_password": ["Shared rate limit password", True],
    }
    assert form["behaviour"]["hidden_fields"] == ["schema", "port"]
    assert form["behaviour"]["relabeling"] == {"host": "Base URL", "login": "App ID", "password": "App Secret"}
    assert "https://open.feishu.cn" in form["behaviour"]["placeholders"]["host"]


def test_flask_connection_form_shows_and_checks_the_feishu_fields(airflow_db):
    skip_unless(FLASK_CONNECTION_FORM, "the UI is not the Flask app; its form comes from the providers manager")
    code = (
        "import json; from airflow.www.app import create_app; app = create_app(testing=True)\n"
        "with app.test_request_context():\n"
        "    from airflow.www.forms import create_connection_form_class\n"
        "    from werkzeug.datastructures import MultiDict\n"
        "    form = create_connection_form_class()(formdata=MultiDict({'extra__feishu__app_type': 'selfbuilt'}))\n"
        "    fields = {\n"
        "        n: [str(form[n].label.text), form[n].type, str(form[n]())] for n in form._fields if 'feishu' in n\n"
        "    }\n"
        "    type_field = form['extra__feishu__app_type']; type_field.validate(form)\n"
        "    print(json.dumps({'fields': fields, 'app_type_errors': [str(e) for e in type_field.errors]}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300).stdout
    form = json.loads(out.strip().splitlines()[-1])

    assert {name: field[:2] for name, field in form["fields"].items()} == {
        "extra__feishu__app_type": ["App type", "StringField"],
        "extra__feishu__app_ticket_secret": ["App ticket", "PasswordField"],
        "extra__feishu__tenant_key": ["Tenant key", "StringField"],
        "extra__feishu__shared_rate_limit": ["Shared rate limit", "StringField"],
        "extra__feishu__shared_rate_limit_password": ["Shared rate limit password", "PasswordField"],
        "extra__feishu__encrypt_key_secret": ["Encrypt Key", "PasswordField"],
        "extra__feishu__verification_token": ["Verification Token", "PasswordField"],
    }
    assert 'type="password"' in form["fields"]["extra__feishu__app_ticket_secret"][2]
    assert 'type="password"' in form["fields"]["extra__feishu__shared_rate_limit_password"][2]
    assert form["app_type_errors"] and "self_built" in form["app_type_errors"][0]


@pytest.mark.parametrize(
    "password, expected_rc, expected_texts",
    [
        pytest.param(None, 0, ["Connection success!"], id="right-secret"),
        # Before Airflow 3.3 a failed test exits 0 too: "Connection failed!" is the answer (see the README).
        pytest.param(
            "not-the-secret",
            CONNECTIONS_TEST_FAILURE_EXIT_CODE,
            ["Connection failed!", "App Secret"],
            id="wrong-secret",
        ),
    ],
)
def test_airflow_connections_test_against_the_double(tmp_path, feishu_double, password, expected_rc, expected_texts):
    overrides = {"password": password} if password else {}
    result = run_airflow(
        "connections",
        "test",
        "feishu_default",
        tmp_path=tmp_path,
        AIRFLOW__CORE__TEST_CONNECTION="Enabled",
        AIRFLOW_CONN_FEISHU_DEFAULT=connection_json(feishu_double, **overrides),
    )

    assert result.returncode == expected_rc, result.stdout + result.stderr
    assert all(text in result.stdout for text in expected_texts), result.stdout
    output = result.stdout + result.stderr
    assert feishu_double.app_secret not in output
    assert not any(token in output for token in feishu_double.issued_tokens)
    shutil.rmtree(tmp_path / "airflow", ignore_errors=True)


def test_the_store_app_plugin_is_found_once():
    # Seen twice (an egg-info left in the checkout by a build: the Makefile removes it), Airflow 3.3's task
    # runner stops registering plugins at the duplicate, and OpenLineage's listener is lost with it.
    from importlib.metadata import distributions

    # As Airflow reads them: every distribution on sys.path, not one per name as entry_points() does.
    found = [
        ep.value
        for dist in distributions()
        for ep in dist.entry_points
        if ep.group == "airflow.plugins" and ep.name == "feishu_store_apps"
    ]

    assert found == ["airflow_provider_feishu_workplace.store_apps.plugin:FeishuStoreAppsPlugin"]
