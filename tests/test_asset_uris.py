"""The feishu-workplace:// asset URI as Airflow sees it: normalised through provider info's handler, bad forms
refused when the Asset (Dataset on Airflow 2) is made; and the integration's logo and how-to guides."""

from __future__ import annotations

import importlib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from airflow.providers.common.compat.sdk import Asset

from airflow_provider_feishu_workplace.assets.feishu_workplace import sanitize_uri
from airflow_provider_feishu_workplace.endpoints import ENDPOINTS
from airflow_provider_feishu_workplace.get_provider_info import get_provider_info
from airflow_provider_feishu_workplace.operators.feishu_workplace import feishu_access_asset
from tests.airflow_versions import ASSET_URI_REFUSAL_WARNS, STRICT_ASSET_URI_ENV, skip_unless
from tests.imports import modules_loaded_by, outside_the_standard_library

ROOT = Path(__file__).resolve().parent.parent


def airflow_normalised(uri: str) -> str:
    """The URI of an Asset (Dataset) made from ``uri``: Airflow's normalisation, then the provider's handler."""
    return Asset(uri=uri).uri


@pytest.mark.parametrize("key", ["asset-uris", "dataset-uris"])
def test_provider_info_names_the_handler_for_the_scheme(key):
    (entry,) = get_provider_info()[key]
    assert entry["schemes"] == ["feishu-workplace"]
    module, _, name = entry["handler"].rpartition(".")
    assert getattr(importlib.import_module(module), name) is sanitize_uri


@pytest.mark.parametrize(
    "uri",
    [
        pytest.param("FEISHU-WORKPLACE://feishu_default/block", id="upper-case-scheme"),
        pytest.param("feishu-workplace://feishu_default/Block", id="upper-case-dataset"),
        pytest.param("feishu-workplace://feishu_default/block/", id="trailing-slash"),
        pytest.param("feishu-workplace://feishu_default/block#today", id="fragment"),
    ],
)
def test_airflow_normalises_other_spellings_to_the_operators_outlet(uri):
    outlet = feishu_access_asset("block", "feishu_default")

    assert airflow_normalised(uri) == outlet.uri == "feishu-workplace://feishu_default/block"


def test_the_connection_id_keeps_its_case():
    assert airflow_normalised("feishu-workplace://Feishu_Prod/workplace") == "feishu-workplace://Feishu_Prod/workplace"


@pytest.mark.parametrize("dataset", sorted(ENDPOINTS))
def test_every_data_sets_outlet_uri_is_already_normal(dataset):
    uri = feishu_access_asset(dataset, "feishu_default").uri

    assert airflow_normalised(uri) == uri


@pytest.mark.parametrize(
    "uri, fault",
    [
        pytest.param("feishu-workplace://feishu_default", "names no data set", id="no-dataset"),
        pytest.param("feishu-workplace:///block", "names no Feishu connection", id="no-connection"),
        pytest.param("feishu-workplace://feishu_default/block/extra", "names no data set", id="two-segments"),
        pytest.param("feishu-workplace://feishu_default/9block", "names no data set", id="bad-name"),
        pytest.param("feishu-workplace://feishu_default/block?day=2026-12-01", "has a query", id="query"),
    ],
)
def test_a_uri_that_names_no_outlet_is_refused_with_the_form_to_use(uri, fault, monkeypatch):
    for name, value in STRICT_ASSET_URI_ENV.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError) as raised:
        airflow_normalised(uri)

    message = str(raised.value)
    assert fault in message
    assert "feishu-workplace://<conn_id>/<dataset>" in message


def test_airflow_2_warns_with_the_handlers_message_unless_strict():
    skip_unless(ASSET_URI_REFUSAL_WARNS, "Airflow 3 refuses the URI (the test above)")
    with pytest.warns(UserWarning, match="names no data set .* use feishu-workplace://<conn_id>/<dataset>"):
        airflow_normalised("feishu-workplace://feishu_default")


@pytest.mark.filterwarnings("ignore:An Asset URI should not contain:UserWarning")
@pytest.mark.filterwarnings("ignore:A dataset URI should not contain:UserWarning")
def test_a_refusal_never_shows_user_info_from_the_uri(monkeypatch):
    for name, value in STRICT_ASSET_URI_ENV.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError) as raised:
        airflow_normalised("feishu-workplace://app:hunter2@feishu_default/block/extra")

    assert "hunter2" not in str(raised.value)


def test_the_handler_module_imports_only_the_standard_library():
    # Airflow imports it during provider discovery, in every process that makes an asset.
    loaded = modules_loaded_by("airflow_provider_feishu_workplace.assets.feishu_workplace")

    assert outside_the_standard_library(loaded) == [
        "airflow_provider_feishu_workplace",
        "airflow_provider_feishu_workplace.assets",
        "airflow_provider_feishu_workplace.assets.feishu_workplace",
    ]


def test_the_integration_has_a_logo_and_how_to_guides_that_exist():
    (integration,) = get_provider_info()["integrations"]
    logo = ROOT / integration["logo"].removeprefix("/")
    svg = ET.parse(logo).getroot()
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert svg.find("{http://www.w3.org/2000/svg}title").text
    assert logo.stat().st_size < 4096
    assert integration["how-to-guide"]
    for guide in integration["how-to-guide"]:
        assert (ROOT / guide.removeprefix("/")).is_file(), guide
