"""The Variable keys of the store-app state, one place for their names."""

from __future__ import annotations

import re

__all__ = ["resend_key", "tenants_key", "ticket_key"]

# App ids are like cli_a1b2c3d4e5f6a7b8: a narrow alphabet keeps the keys valid on every Airflow.
_APP_ID = re.compile(r"[A-Za-z0-9_.-]{1,100}")


def _checked(app_id: str) -> str:
    if not isinstance(app_id, str) or not _APP_ID.fullmatch(app_id):
        raise ValueError(
            f"App id {app_id!r} is not an app id: give the app's id as shown in the developer console (cli_...)."
        )
    return app_id


def ticket_key(app_id: str) -> str:
    """The ticket's Variable: the key holds ``secret``, so Airflow masks the value everywhere it shows it."""
    return f"feishu_store_app_ticket_secret.{_checked(app_id)}"


def tenants_key(app_id: str) -> str:
    """The tenant registry's Variable (tenant keys and statuses: nothing secret)."""
    return f"feishu_store_app_tenants.{_checked(app_id)}"


def resend_key(app_id: str) -> str:
    """When a worker last asked the platform to push the ticket again."""
    return f"feishu_store_app_ticket_resend.{_checked(app_id)}"
