"""The provider as Airflow's own CLI sees it: discovery, the connection type, and connection tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_feishu_workplace.get_provider_info import get_provider_info
from tests.conftest import connection_json

AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def run_airflow(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow"), **env}
    return subprocess.run([AIRFLOW, *args], capture_output=True, text=True, env=full_env, timeout=120)


def json_rows(stdout: str) -> list[dict]:
    """Return the JSON table of an ``--output json`` command (Airflow may log lines around it)."""
    return json.loads(next(line for line in stdout.splitlines() if line.startswith("[")))


def test_provider_info_passes_airflows_schema():
    import jsonschema
    from airflow import providers_manager

    schema_path = Path(providers_manager.__file__).with_name("provider_info.schema.json")
    jsonschema.validate(get_provider_info(), json.loads(schema_path.read_text()))


def test_package_init_and_provider_info_import_nothing():
    code = (
        "import json, sys; before = set(sys.modules);"
        "import airflow_provider_feishu_workplace.get_provider_info;"
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout

    assert json.loads(out) == ["airflow_provider_feishu_workplace", "airflow_provider_feishu_workplace.get_provider_info"]


def test_airflow_providers_list_shows_the_package(tmp_path):
    result = run_airflow("providers", "list", "--output", "json", tmp_path=tmp_path)

    packages = {entry["package_name"]: entry for entry in json_rows(result.stdout)}
    assert packages["airflow-provider-feishu-workplace"]["version"] == "0.1.0"


def test_airflow_providers_hooks_shows_the_feishu_connection_type(tmp_path):
    result = run_airflow("providers", "hooks", "--output", "json", tmp_path=tmp_path)

    hooks = {entry["connection_type"]: entry for entry in json_rows(result.stdout)}
    assert hooks["feishu"]["class"].endswith("FeishuWorkplaceHook")
    assert hooks["feishu"]["conn_id_attribute_name"] == "feishu_conn_id"


def test_connection_form_declares_the_feishu_fields(tmp_path):
    code = (
        "import json; from airflow.providers_manager import ProvidersManager as P; p = P();"
        "w = {k: v.field.to_dict() if hasattr(v.field, 'to_dict') else str(v.field) "
        "for k, v in p.connection_form_widgets.items() if k.startswith('extra__feishu__')};"
        "print(json.dumps({'widgets': sorted(w), 'behaviour': p.field_behaviours.get('feishu')}, default=str))"
    )
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    form = json.loads(out.strip().splitlines()[-1])

    assert form["widgets"] == ["extra__feishu__app_ticket", "extra__feishu__app_type", "extra__feishu__tenant_key"]
    assert form["behaviour"]["hidden_fields"] == ["schema", "port"]
    assert form["behaviour"]["relabeling"] == {"host": "Base URL", "login": "App ID", "password": "App Secret"}
    assert "https://open.feishu.cn" in form["behaviour"]["placeholders"]["host"]


@pytest.mark.parametrize(
    "password, expected_rc, expected_text",
    [
        pytest.param(None, 0, "Connection success!", id="right-secret"),
        pytest.param("not-the-secret", 1, "App Secret", id="wrong-secret"),
    ],
)
def test_airflow_connections_test_against_the_double(tmp_path, feishu_double, password, expected_rc, expected_text):
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
    assert expected_text in result.stdout
    output = result.stdout + result.stderr
    assert feishu_double.app_secret not in output
    assert not any(token in output for token in feishu_double.issued_tokens)
    shutil.rmtree(tmp_path / "airflow", ignore_errors=True)
