"""The Feishu connection form, in one place: plain data, no imports.

Airflow 3.2 and later read it from provider info (``conn-fields``, ``ui-field-behaviour``); the Flask
form of Airflow 2.11 (and of 3.0/3.1 with the FAB provider) gets the same fields from the hook's
``get_connection_form_widgets`` / ``get_ui_field_behaviour``, which translate this data.

Help text is in English; the Chinese names appear only where a user searches for them in the Feishu
developer console (开发者后台). Airflow shows a description under each extra field, but for the standard
fields (Base URL, App ID, App Secret) only a placeholder: their help lives in the placeholders.
"""

# The name in the connection type list: the type search matches it, so it names both brands.
HOOK_NAME = "Feishu (Lark)"

# The connection's extras, in provider info's ``conn-fields`` format (a JSON schema per field).
CONN_FIELDS = {
    "app_type": {
        "label": "App type",
        "description": (
            "self_built: an app your company created in the developer console (自建应用, the usual case); "
            "App ID and App Secret are all it needs. store: an app from the app store (商店应用), which also "
            "needs Tenant key, and Encrypt Key and Verification Token for the ticket Airflow receives."
        ),
        "schema": {"type": ["string", "null"], "default": "self_built", "enum": ["self_built", "store"]},
    },
    # "secret" in the key makes Airflow hide the value in the UI and the REST API, like the App Secret;
    # the hook still reads a ticket saved under the earlier key, app_ticket.
    "app_ticket_secret": {
        "label": "App ticket",
        "description": (
            "Store apps only (leave empty for self_built), and usually empty for them too: the platform pushes "
            "the ticket to Airflow's /feishu/events/<conn_id> and the pushed one wins. A fallback only."
        ),
        "schema": {"type": ["string", "null"], "format": "password"},
    },
    "tenant_key": {
        "label": "Tenant key",
        "description": (
            "Store apps only (leave empty for self_built): the tenant_key of the company whose data is read, "
            "from the event sent when it installed the app."
        ),
        "schema": {"type": ["string", "null"]},
    },
    # The store-app receiver's secrets (store_apps/receiver.py); "secret" and "token" in the keys make
    # Airflow hide both in the UI, the REST API and the logs.
    "encrypt_key_secret": {
        "label": "Encrypt Key",
        "description": (
            "Store apps: the Encrypt Key from the app's Events & Callbacks page (事件与回调 > 加密策略). Airflow "
            "decrypts and checks the signature of the events the platform pushes to /feishu/events/<conn_id>."
        ),
        "schema": {"type": ["string", "null"], "format": "password"},
    },
    "verification_token": {
        "label": "Verification Token",
        "description": (
            "Store apps: the Verification Token from the same page; events that do not carry it are refused."
        ),
        "schema": {"type": ["string", "null"], "format": "password"},
    },
    # The URL holds no password (the hook refuses one): Airflow shows this extra in clear.
    "shared_rate_limit": {
        "label": "Shared rate limit",
        "description": (
            "Optional: pace every worker of this app together, within the platform's per-app limit. "
            "redis://host:6379/0 (workers on several machines; needs the [redis] extra) or "
            "file:///a/folder (workers on one machine). No password here: use the next field. "
            "Empty: each process paces itself."
        ),
        "schema": {"type": ["string", "null"]},
    },
    # "password" in the key makes Airflow hide the value in the UI, the REST API and the logs.
    "shared_rate_limit_password": {
        "label": "Shared rate limit password",
        "description": "Optional: the password of the Redis server named above (with an ACL user: redis://user@host).",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
}

# The standard fields' behaviour, in provider info's ``ui-field-behaviour`` format.
UI_FIELD_BEHAVIOUR = {
    "hidden-fields": ["schema", "port"],
    "relabeling": {"host": "Base URL", "login": "App ID", "password": "App Secret"},
    "placeholders": {
        # Short enough to show whole in Airflow 3's dialog (about 70 characters).
        "host": "Empty means https://open.feishu.cn; Lark: https://open.larksuite.com",
        "login": "cli_..., on the app's Credentials & Basic Info page (凭证与基础信息)",
        "password": "On the same page as the App ID (Credentials & Basic Info)",
    },
}
