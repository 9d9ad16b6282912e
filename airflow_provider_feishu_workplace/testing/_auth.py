"""The auth endpoints: tenant tokens for self-built apps, app and tenant tokens for store apps.

The platform reports bad credentials on these endpoints as HTTP 200 with a non-zero ``code``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_provider_feishu_workplace.testing import _replies
from airflow_provider_feishu_workplace.testing._replies import Reply
from airflow_provider_feishu_workplace.testing._tokens import TokenIssuer

INVALID_PARAM = 10003
WRONG_SECRET = 10015
BAD_APP_TICKET = 10012
BAD_APP_ACCESS_TOKEN = 10013
UNKNOWN_TENANT_KEY = 99992500
APP_NOT_ENABLED = 99991673


@dataclass(frozen=True)
class Credentials:
    """The apps the double knows: one self-built app and one store app installed in one tenant."""

    app_id: str
    app_secret: str
    store_app_id: str
    store_app_secret: str
    app_ticket: str
    tenant_key: str


def _refused(code: int, msg: str) -> Reply:
    return _replies.error(code, msg, status=200)


def _fields(body: dict[str, Any], *names: str) -> list[str] | None:
    """The named string fields of the body, or ``None`` if one is missing or empty."""
    values = [body.get(name) for name in names]
    return values if all(isinstance(value, str) and value for value in values) else None


def _check_app(body: dict[str, Any], app_id: str, app_secret: str, *extra: str) -> Reply | list[str]:
    """The body's fields if ``app_id`` and ``app_secret`` match, else the refusal."""
    values = _fields(body, "app_id", "app_secret", *extra)
    if values is None or values[0] != app_id:
        return _refused(INVALID_PARAM, "invalid param")
    if values[1] != app_secret:
        return _refused(WRONG_SECRET, "app secret invalid")
    return values


def tenant_access_token_internal(body: dict[str, Any], creds: Credentials, issuer: TokenIssuer) -> Reply:
    """``tenant_access_token/internal``: a self-built app's tenant token."""
    checked = _check_app(body, creds.app_id, creds.app_secret)
    if isinstance(checked, Reply):
        return checked
    token, expire = issuer.issue("tenant", (creds.app_id, None))
    return _replies.ok(tenant_access_token=token, expire=expire)


def app_access_token(body: dict[str, Any], creds: Credentials, issuer: TokenIssuer) -> Reply:
    """``app_access_token``: a store app's app token, which needs the pushed ``app_ticket``."""
    checked = _check_app(body, creds.store_app_id, creds.store_app_secret, "app_ticket")
    if isinstance(checked, Reply):
        return checked
    if not issuer.ticket_valid(checked[2], initial=creds.app_ticket):
        return _refused(BAD_APP_TICKET, "app_ticket is invalid or expired")
    token, expire = issuer.issue("app", (creds.store_app_id,))
    return _replies.ok(app_access_token=token, expire=expire)


def tenant_access_token(body: dict[str, Any], creds: Credentials, issuer: TokenIssuer) -> Reply:
    """``tenant_access_token``: a store app's tenant token from its app token and a tenant key."""
    values = _fields(body, "app_access_token", "tenant_key")
    if values is None:
        return _refused(INVALID_PARAM, "invalid param")
    app_token, tenant_key = values
    if issuer.owner_of(app_token, "app") is None:
        return _refused(BAD_APP_ACCESS_TOKEN, "app_access_token is invalid or expired")
    # The double's own tenant, and every tenant an app_open (or start, or order) event was pushed for.
    enabled = issuer.tenant_enabled(tenant_key)
    if enabled is False:
        return _refused(APP_NOT_ENABLED, "app is not enabled in this tenant")
    if enabled is None and tenant_key != creds.tenant_key:
        return _refused(UNKNOWN_TENANT_KEY, "tenant_key not found")
    token, expire = issuer.issue("tenant", (creds.store_app_id, tenant_key))
    return _replies.ok(tenant_access_token=token, expire=expire)


def app_ticket_resend(body: dict[str, Any], creds: Credentials, issuer: TokenIssuer) -> Reply:
    """``app_ticket/resend``: accepted; an event pusher (:mod:`._pusher`), if one runs, pushes a new ticket."""
    checked = _check_app(body, creds.store_app_id, creds.store_app_secret)
    if isinstance(checked, Reply):
        return checked
    issuer.resend_requested()  # the push happens later, in the pusher's thread, as the platform's does
    return _replies.ok()


HANDLERS = {
    "tenant_access_token_internal": tenant_access_token_internal,
    "app_access_token": app_access_token,
    "tenant_access_token": tenant_access_token,
    "app_ticket_resend": app_ticket_resend,
}
