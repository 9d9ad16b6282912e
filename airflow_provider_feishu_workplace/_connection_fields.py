"""The Feishu connection form, in one place: plain data, no imports.

Airflow 3.2 and later read it from provider info (``conn-fields``, ``ui-field-behaviour``); the Flask
form of Airflow 2.11 (and of 3.0/3.1 with the FAB provider) gets the same fields from the hook's
``get_connection_form_widgets`` / ``get_ui_field_behaviour``, which translate this data.
"""

# The connection's extras, in provider info's ``conn-fields`` format (a JSON schema per field).
CONN_FIELDS = {
    "app_type": {
        "label": "App type",
        "description": "self_built (自建应用) or store (商店应用, needs app ticket and tenant key)",
        "schema": {"type": ["string", "null"], "default": "self_built", "enum": ["self_built", "store"]},
    },
    # "secret" in the key makes Airflow hide the value in the UI and the REST API, like the App Secret;
    # the hook still reads a ticket saved under the earlier key, app_ticket.
    "app_ticket_secret": {
        "label": "App ticket",
        "description": "Store apps only: the latest app_ticket the platform pushed to the app (kept secret)",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
    "tenant_key": {
        "label": "Tenant key",
        "description": "Store apps only: the tenant whose data is read",
        "schema": {"type": ["string", "null"]},
    },
}

# The standard fields' behaviour, in provider info's ``ui-field-behaviour`` format.
UI_FIELD_BEHAVIOUR = {
    "hidden-fields": ["schema", "port"],
    "relabeling": {"host": "Base URL", "login": "App ID", "password": "App Secret"},
    "placeholders": {
        "host": "https://open.feishu.cn (Lark: https://open.larksuite.com)",
        "login": "cli_xxxxxxxxxxxxxxxx",
    },
}
