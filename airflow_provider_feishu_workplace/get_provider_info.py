"""Provider metadata that Airflow reads at discovery (plain data; imports only the connection form's data)."""

from airflow_provider_feishu_workplace import __version__
from airflow_provider_feishu_workplace._connection_fields import CONN_FIELDS, HOOK_NAME, UI_FIELD_BEHAVIOUR

#: Every released version, newest first (the CHANGELOG's entries; tests/test_release.py checks both agree).
VERSIONS = [__version__, "0.1.0"]

# What Airflow calls for every asset URI with the scheme: it checks and normalises the URI.
_ASSET_URIS = [
    {
        "schemes": ["feishu-workplace"],
        "handler": "airflow_provider_feishu_workplace.assets.feishu_workplace.sanitize_uri",
    }
]


def get_provider_info():
    """Return the provider description validated by Airflow's provider_info schema."""
    return {
        "package-name": "airflow-provider-feishu-workplace",
        "name": "Feishu Workplace",
        "description": "Feishu (Lark) Workplace access data: workplace, custom workplace and block visits.",
        "versions": VERSIONS,
        # Paths are from the root of the source tree (the sdist), as official providers' are from Airflow's;
        # the logo is inside the package, so the wheel carries it too.
        "integrations": [
            {
                "integration-name": "Feishu Workplace",
                "external-doc-url": "https://open.feishu.cn/document/workplace-v1/app_usage/overview",
                "logo": "/airflow_provider_feishu_workplace/docs/integration-logos/feishu.svg",
                "how-to-guide": ["/docs/testing-your-dags.md", "/docs/adding-an-endpoint.md"],
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Feishu Workplace",
                "python-modules": [
                    "airflow_provider_feishu_workplace.hooks.feishu",
                    "airflow_provider_feishu_workplace.hooks.feishu_workplace",
                ],
            }
        ],
        "operators": [
            {
                "integration-name": "Feishu Workplace",
                "python-modules": ["airflow_provider_feishu_workplace.operators.feishu_workplace"],
            }
        ],
        "sensors": [
            {
                "integration-name": "Feishu Workplace",
                "python-modules": ["airflow_provider_feishu_workplace.sensors.feishu_workplace"],
            }
        ],
        "triggers": [
            {
                "integration-name": "Feishu Workplace",
                "python-modules": ["airflow_provider_feishu_workplace.triggers.feishu_workplace"],
            }
        ],
        # The store-app event receiver at /feishu/events/{conn_id} (API server on Airflow 3, webserver on 2).
        "plugins": [
            {
                "name": "feishu_store_apps",
                "plugin-class": "airflow_provider_feishu_workplace.store_apps.plugin.FeishuStoreAppsPlugin",
            }
        ],
        "notifications": ["airflow_provider_feishu_workplace.notifications.feishu.FeishuNotifier"],
        "asset-uris": _ASSET_URIS,
        # Airflow 2 reads the same handlers under their older name.
        "dataset-uris": _ASSET_URIS,
        "connection-types": [
            {
                "connection-type": "feishu",
                "hook-class-name": "airflow_provider_feishu_workplace.hooks.feishu.FeishuHook",
                "hook-name": HOOK_NAME,
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
    }
