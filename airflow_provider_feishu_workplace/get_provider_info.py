"""Provider metadata that Airflow reads at discovery (plain data; imports only the connection form's data)."""

from airflow_provider_feishu_workplace._connection_fields import CONN_FIELDS, HOOK_NAME, UI_FIELD_BEHAVIOUR


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
        "notifications": ["airflow_provider_feishu_workplace.notifications.feishu.FeishuNotifier"],
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
