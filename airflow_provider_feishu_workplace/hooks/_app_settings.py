"""Read and check a Feishu connection's fields: base URL, app credentials and app type."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_feishu_workplace._arguments import checked_tenant_key
from airflow_provider_feishu_workplace.exceptions import FeishuConfigError

FEISHU_BASE_URL = "https://open.feishu.cn"
LARK_BASE_URL = "https://open.larksuite.com"
APP_TYPES = ("self_built", "store")
# The store app's ticket is a secret: Airflow hides an extra whose key holds "secret" (its default
# sensitive names) in the UI's edit form and the REST API, as it hides the password. Connections saved
# under the earlier key are still read.
APP_TICKET_KEY = "app_ticket_secret"
LEGACY_APP_TICKET_KEY = "app_ticket"
# The shared rate limit's URL is shown in clear, so it must hold no password; Redis's password has an extra
# of its own that Airflow hides ("password" in the key).
SHARED_RATE_LIMIT_KEY = "shared_rate_limit"
SHARED_RATE_LIMIT_PASSWORD_KEY = "shared_rate_limit_password"


@dataclass(frozen=True)
class FeishuAppSettings:
    """What the hook needs from a connection, checked; secrets are kept out of ``repr``."""

    base_url: str
    app_id: str
    app_secret: str = field(repr=False)
    app_type: str = "self_built"
    app_ticket: str | None = field(default=None, repr=False)
    tenant_key: str | None = None
    #: The extra ``shared_rate_limit``: where every process of the app keeps its request schedule.
    shared_rate_limit: str | None = field(default=None, repr=False)
    #: The extra ``shared_rate_limit_password``: Redis's password, kept out of the URL (Airflow hides this key).
    shared_rate_limit_password: str | None = field(default=None, repr=False)

    @classmethod
    def from_connection(cls, conn: Any, *, tenant_key: str | None = None) -> FeishuAppSettings:
        """Build settings from an Airflow connection, or raise naming the field to fix.

        :param conn: an Airflow ``Connection`` (only ``conn_id``, ``host``, ``port``, ``login``,
            ``password`` and ``extra_dejson`` are read).
        :param tenant_key: a store app's tenant, instead of the connection's ``tenant_key`` extra (one
            connection per app, one mapped task per tenant).
        """
        conn_id = conn.conn_id
        extras = conn.extra_dejson or {}
        if tenant_key is not None:
            checked_tenant_key(tenant_key)
        # Checked in this order, so the first field to fix is named first; the host last.
        return cls(
            **_credentials(conn),
            **_app_kind(conn_id, extras, tenant_key),
            **_shared_rate_limit(conn_id, extras),
            base_url=normalize_base_url(conn.host, conn.port, conn_id=conn_id),
        )

    def credentials(self) -> dict[str, str]:
        """The app's id and secret, as the token requests' bodies carry them."""
        return {"app_id": self.app_id, "app_secret": self.app_secret}


def _credentials(conn: Any) -> dict[str, Any]:
    """The connection's ``app_id`` (login) and ``app_secret`` (password), or raise naming the empty one."""
    app_id = (conn.login or "").strip()
    app_secret = conn.password or ""
    if not app_id:
        raise FeishuConfigError(
            f"Connection {conn.conn_id!r} has no App ID: put the app's id (cli_...) in the connection's login field."
        )
    if not app_secret:
        raise FeishuConfigError(
            f"Connection {conn.conn_id!r} has no App Secret: put the app's secret in the connection's password field."
        )
    return {"app_id": app_id, "app_secret": app_secret}


def _app_kind(conn_id: str, extras: dict[str, Any], tenant_key: str | None) -> dict[str, Any]:
    """The ``app_type``, ``app_ticket`` and ``tenant_key`` fields: the app's kind and, for a store app, its tenant."""
    app_type = str(extras.get("app_type") or "self_built").strip()
    if app_type not in APP_TYPES:
        raise FeishuConfigError(
            f"Connection {conn_id!r} has app_type={app_type!r}: use 'self_built' or 'store' in its extras."
        )
    if tenant_key is not None and app_type != "store":
        raise FeishuConfigError(
            f"tenant_key={tenant_key!r} was given, but connection {conn_id!r} is a {app_type} app, which reads "
            "its own tenant only: leave tenant_key out, or use a store app's connection (app_type 'store')."
        )
    app_ticket = _optional_text(extras.get(APP_TICKET_KEY)) or _optional_text(extras.get(LEGACY_APP_TICKET_KEY))
    tenant_key = _optional_text(tenant_key) or _optional_text(extras.get("tenant_key"))
    # A store app's ticket is the one the platform pushes to the receiver (store_apps); the extra is only a
    # fallback for deployments that inject it from a secrets backend.
    if app_type == "store" and not tenant_key:
        raise FeishuConfigError(
            f"Connection {conn_id!r} is a store app but has no tenant_key: set it in the connection's extras "
            "(the tenant key of the tenant whose data is read, from its app_open event)."
        )
    return {"app_type": app_type, "app_ticket": app_ticket, "tenant_key": tenant_key}


def _shared_rate_limit(conn_id: str, extras: dict[str, Any]) -> dict[str, Any]:
    """The ``shared_rate_limit`` URL and its Redis password, from the connection's extras."""
    url = _optional_text(extras.get(SHARED_RATE_LIMIT_KEY))
    if url is not None:
        from airflow_provider_feishu_workplace.hooks._shared_limit import check_url

        check_url(url, where=f"connection {conn_id!r}'s extra {SHARED_RATE_LIMIT_KEY!r}")
    password = extras.get(SHARED_RATE_LIMIT_PASSWORD_KEY)
    if password is not None and not isinstance(password, str):
        raise FeishuConfigError(
            f"Connection {conn_id!r} has a {SHARED_RATE_LIMIT_PASSWORD_KEY!r} extra that is not text: give "
            "Redis's password as a string."
        )
    return {"shared_rate_limit": url, "shared_rate_limit_password": password or None}


def normalize_base_url(host: str | None, port: int | None = None, *, conn_id: str = "?") -> str:
    """Return the origin (and optional path prefix) requests go to, without a trailing slash.

    An empty host means Feishu's public host; a bare host name implies https. Plain http is only
    accepted for loopback addresses, so TLS verification cannot be dropped by accident.
    """
    text = (host or "").strip()
    if not text:
        return FEISHU_BASE_URL
    if "://" not in text:
        text = f"https://{text}"
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    hostname = parts.hostname or ""
    # Error messages show the host without any user:password@ a user may have put in it.
    shown = text.replace(parts.netloc, f"***@{parts.netloc.rpartition('@')[2]}") if "@" in parts.netloc else host
    if scheme not in ("https", "http") or not hostname:
        raise FeishuConfigError(
            f"Connection {conn_id!r} has host={shown!r}: use an https origin such as "
            f"{FEISHU_BASE_URL!r} or {LARK_BASE_URL!r}."
        )
    if scheme == "http" and not _is_loopback(hostname):
        raise FeishuConfigError(
            f"Connection {conn_id!r} has host={shown!r}: plain http is only allowed for loopback test servers; "
            "use https for real hosts."
        )
    if parts.query or parts.fragment or parts.username:
        raise FeishuConfigError(
            f"Connection {conn_id!r} has host={shown!r}: give only scheme://host[:port][/prefix], "
            "with no credentials, query or fragment."
        )
    netloc = parts.netloc
    if port and parts.port is None:
        netloc = f"{netloc}:{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def _is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _optional_text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None
