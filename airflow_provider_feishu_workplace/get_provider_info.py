"""Provider metadata that Airflow reads at discovery (plain data, no imports)."""


def get_provider_info():
    """Return the provider description validated by Airflow's provider_info schema."""
    return {
        "package-name": "airflow-provider-feishu-workplace",
        "name": "Feishu Workplace",
        "description": "Feishu (Lark) Workplace access data: workplace, custom workplace and block visits.",
        "integrations": [
            {
                "integration-name": "Feishu Workplace",
                "external-doc-url": "https://open.feishu.cn/document/workplace-v1/app_usage/overview",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Feishu Workplace",
                "python-modules": ["airflow_provider_feishu_workplace.hooks.feishu_workplace"],
            }
        ],
        "operators": [
            {
                "integration-name": "Feishu Workplace",
                "python-modules": ["airflow_provider_feishu_workplace.operators.feishu_workplace"],
            }
        ],
        "connection-types": [
            {
                "connection-type": "feishu",
                "hook-class-name": "airflow_provider_feishu_workplace.hooks.feishu_workplace.FeishuWorkplaceHook",
                "hook-name": "Feishu",
                "conn-fields": {
                    "app_type": {
                        "label": "App type",
                        "description": "self_built (自建应用) or store (商店应用, needs app ticket and tenant key)",
                        "schema": {"type": ["string", "null"], "default": "self_built", "enum": ["self_built", "store"]},
                    },
                    "app_ticket": {
                        "label": "App ticket",
                        "description": "Store apps only: the latest app_ticket the platform pushed to the app",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "tenant_key": {
                        "label": "Tenant key",
                        "description": "Store apps only: the tenant whose data is read",
                        "schema": {"type": ["string", "null"]},
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port"],
                    "relabeling": {"host": "Base URL", "login": "App ID", "password": "App Secret"},
                    "placeholders": {
                        "host": "https://open.feishu.cn (Lark: https://open.larksuite.com)",
                        "login": "cli_xxxxxxxxxxxxxxxx",
                    },
                },
            }
        ],
    }
