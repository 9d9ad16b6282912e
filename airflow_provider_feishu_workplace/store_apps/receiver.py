"""The store app's event callback, framework-free: check a delivery, answer it, store what it says.

:func:`handle` takes the raw request body and headers of ``POST /feishu/events/{conn_id}`` and returns the
HTTP status and JSON answer; the Airflow plugin (:mod:`.plugin`) only carries requests to it. The secrets
are the connection's extras ``encrypt_key_secret`` (the app's Encrypt Key) and ``verification_token``.
Every refusal is a 4xx with the same body and no detail; the log says why, without any ticket, key or token.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_feishu_workplace.store_apps import crypto
from airflow_provider_feishu_workplace.store_apps._seen import SeenIds

__all__ = [
    "ENCRYPT_KEY_EXTRA",
    "MAX_BODY_BYTES",
    "MAX_CLOCK_SKEW_SECONDS",
    "VERIFICATION_TOKEN_EXTRA",
    "EventReceiver",
    "ReceiverSecrets",
    "handle",
]

log = logging.getLogger(__name__)

ENCRYPT_KEY_EXTRA = "encrypt_key_secret"
VERIFICATION_TOKEN_EXTRA = "verification_token"
#: The platform's events are a few hundred bytes; anything much larger is not one.
MAX_BODY_BYTES = 64 * 1024
#: A signed timestamp further than this from the receiver's clock is a replay (or a broken clock).
MAX_CLOCK_SKEW_SECONDS = 300
REFUSED: dict[str, Any] = {"msg": "refused"}
OK: dict[str, Any] = {"msg": "ok"}


@dataclass(frozen=True)
class ReceiverSecrets:
    """What checks a connection's deliveries: the app id, its Encrypt Key and verification token."""

    app_id: str
    verification_token: str = field(repr=False)
    encrypt_key: str | None = field(default=None, repr=False)


def connection_secrets(conn_id: str) -> ReceiverSecrets | None:
    """Read ``conn_id``'s app id and event secrets from Airflow (the metadata DB or a secrets backend).

    ``None`` (logged with the fix) when the connection does not exist or has no verification token.
    """
    from airflow.models.connection import Connection

    try:
        conn = Connection.get_connection_from_secrets(conn_id)
    except Exception as error:  # AirflowNotFoundException, or a secrets backend down
        log.warning("Feishu events for connection %r refused: %s", conn_id, type(error).__name__)
        return None
    extras = conn.extra_dejson or {}
    token = str(extras.get(VERIFICATION_TOKEN_EXTRA) or "").strip()
    if not token or not (conn.login or "").strip():
        log.warning(
            "Feishu events for connection %r refused: it needs the App ID (login) and the extra %r "
            "(the app's Verification Token from the developer console's event settings).",
            conn_id,
            VERIFICATION_TOKEN_EXTRA,
        )
        return None
    key = str(extras.get(ENCRYPT_KEY_EXTRA) or "").strip() or None
    return ReceiverSecrets(app_id=str(conn.login).strip(), verification_token=token, encrypt_key=key)


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class EventReceiver:
    """Checks and handles deliveries; one per process (its memory of handled event ids is per process).

    :param secrets_for: conn id -> its :class:`ReceiverSecrets`, or ``None`` to refuse.
    :param clock: seconds since the epoch (for the replay window).
    :param seen: the ids of events already handled.
    """

    def __init__(
        self,
        secrets_for: Callable[[str], ReceiverSecrets | None] = connection_secrets,
        *,
        clock: Callable[[], float] = time.time,
        seen: SeenIds | None = None,
    ) -> None:
        self._secrets_for = secrets_for
        self._clock = clock
        self._seen = seen if seen is not None else SeenIds()

    def handle(self, conn_id: str, raw_body: bytes, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """Answer one delivery to ``/feishu/events/{conn_id}``: ``(HTTP status, JSON body)``."""
        try:
            return self._handle(conn_id, raw_body, {name.lower(): value for name, value in headers.items()})
        except _Refused as refused:
            log.warning("Feishu event for connection %r refused (%d): %s", conn_id, refused.status, refused.reason)
            return refused.status, dict(REFUSED)

    def _handle(self, conn_id: str, raw_body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if len(raw_body) > MAX_BODY_BYTES:
            raise _Refused(413, f"body of {len(raw_body)} bytes, over {MAX_BODY_BYTES}")
        secrets = self._secrets_for(conn_id)
        if secrets is None:
            raise _Refused(404, "no such Feishu store-app connection (see the log line above)")
        signed = self._check_signature(secrets, raw_body, headers)
        payload = _payload(raw_body, secrets.encrypt_key)
        if not hmac.compare_digest(_token(payload).encode(), secrets.verification_token.encode()):
            raise _Refused(401, "wrong verification token")
        if payload.get("type") == "url_verification":
            challenge = payload.get("challenge")
            if not isinstance(challenge, str):
                raise _Refused(400, "url_verification without a challenge")
            log.info("Feishu callback URL verified for connection %r", conn_id)
            return 200, {"challenge": challenge}
        if secrets.encrypt_key and not signed:
            raise _Refused(401, "event without signature headers while the connection has an Encrypt Key")
        return self._dispatch(conn_id, secrets.app_id, payload)

    def _check_signature(self, secrets: ReceiverSecrets, raw_body: bytes, headers: dict[str, str]) -> bool:
        """Check the signature and the replay window; ``False`` when the delivery carries no signature.

        The platform signs only when the app has an Encrypt Key, and its SDKs answer the URL handshake
        before checking a signature, so whether one is required is decided after the body is read.
        """
        timestamp = headers.get("x-lark-request-timestamp")
        if timestamp is not None:
            try:
                skew = abs(self._clock() - float(timestamp))
            except ValueError:
                raise _Refused(400, "X-Lark-Request-Timestamp is not a number") from None
            if skew > MAX_CLOCK_SKEW_SECONDS:
                raise _Refused(401, f"timestamp {skew:.0f} s away from this server's clock")
        signature = headers.get("x-lark-signature")
        if signature is None or not secrets.encrypt_key:
            return False
        nonce = headers.get("x-lark-request-nonce", "")
        if timestamp is None or not crypto.signature_matches(
            signature, timestamp, nonce, secrets.encrypt_key, raw_body
        ):
            raise _Refused(401, "bad signature")
        return True

    def _dispatch(self, conn_id: str, app_id: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        header = _section(payload, "header")
        event = _section(payload, "event")
        event_id = str(payload.get("uuid") or header.get("event_id") or "")
        event_type = str(header.get("event_type") or event.get("type") or "")
        if not event_id or not event_type:
            raise _Refused(400, "an event without uuid/event_id or type")
        if event_id in self._seen:
            log.info(
                "Feishu event %s (%s) for connection %r: a redelivery, already handled", event_id, event_type, conn_id
            )
            return 200, dict(OK)
        event_app = str(event.get("app_id") or header.get("app_id") or app_id)
        if event_app != app_id:
            log.warning(
                "Feishu event %s (%s) for connection %r is for app %s, not the connection's %s: ignored",
                event_id, event_type, conn_id, event_app, app_id,
            )  # fmt: skip
            self._seen.add(event_id)
            return 200, dict(OK)
        when = self._event_time(payload, header)
        try:
            outcome = _store(app_id, event_type, event, header, when)
        except Exception as error:  # the platform retries a non-200: the event is not lost
            log.error(
                "Feishu event %s (%s) for connection %r could not be stored (%s); the platform will redeliver it",
                event_id, event_type, conn_id, type(error).__name__,
            )  # fmt: skip
            return 500, dict(REFUSED)
        self._seen.add(event_id)
        log.info("Feishu event %s (%s) for app %s on connection %r: %s", event_id, event_type, app_id, conn_id, outcome)
        return 200, dict(OK)

    def _event_time(self, payload: dict[str, Any], header: dict[str, Any]) -> dt.datetime:
        """When the platform made the event (schema 1.0 ``ts`` in s, 2.0 ``create_time`` in ms), at most now."""
        now = self._clock()
        seconds = now
        try:
            if payload.get("ts") is not None:
                seconds = float(payload["ts"])
            elif header.get("create_time") is not None:
                seconds = float(header["create_time"]) / 1000
        except (TypeError, ValueError):
            seconds = now
        # A clock ahead on the platform's side must not make one ticket "newer" than every later push.
        return dt.datetime.fromtimestamp(min(seconds, now), dt.UTC)


def _store(app_id: str, event_type: str, event: dict[str, Any], header: dict[str, Any], when: dt.datetime) -> str:
    """Write what the event says; return what was done, for the log (no secret in it)."""
    from airflow_provider_feishu_workplace.store_apps import tenants, tickets

    if event_type == "app_ticket":
        ticket = event.get("app_ticket")
        if not isinstance(ticket, str) or not ticket:
            return "an app_ticket event without a ticket, ignored"
        tickets.save_ticket(app_id, ticket, when)
        return "app ticket stored"
    if event_type in ("app_open", "app_status_change", "order_paid"):
        tenant_key = str(event.get("tenant_key") or header.get("tenant_key") or "")
        status = event_type if event_type != "app_status_change" else str(event.get("status") or "")
        if not tenant_key or status not in tenants.TENANT_EVENTS:
            return f"no tenant_key or an unknown status {status!r}, ignored"
        tenants.record_tenant_event(app_id, tenant_key, status, when)
        return f"tenant {tenant_key} recorded as {tenants.TENANT_EVENTS[status]} ({status})"
    return "not an event the provider keeps, ignored"


def _section(payload: dict[str, Any], name: str) -> dict[str, Any]:
    """``payload[name]`` when it is an object, else an empty one."""
    section = payload.get(name)
    return section if isinstance(section, dict) else {}


def _payload(raw_body: bytes, encrypt_key: str | None) -> dict[str, Any]:
    try:
        body = json.loads(raw_body)
    except ValueError:
        raise _Refused(400, "body is not JSON") from None
    if isinstance(body, dict) and "encrypt" in body:
        if not encrypt_key or not isinstance(body["encrypt"], str):
            raise _Refused(400, "an encrypted body while the connection has no Encrypt Key")
        try:
            body = json.loads(crypto.decrypt(body["encrypt"], encrypt_key))
        except (crypto.CryptoError, ValueError):
            raise _Refused(400, "encrypted body does not decrypt with the connection's Encrypt Key") from None
    if not isinstance(body, dict):
        raise _Refused(400, "body is not a JSON object")
    return body


def _token(payload: dict[str, Any]) -> str:
    """The verification token: top-level in schema 1.0 and the handshake, ``header.token`` in 2.0."""
    header = payload.get("header")
    token = header.get("token") if isinstance(header, dict) else payload.get("token")
    return token if isinstance(token, str) else ""


_RECEIVER = EventReceiver()


def handle(conn_id: str, raw_body: bytes, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
    """Answer one delivery with this process's receiver (see :meth:`EventReceiver.handle`)."""
    return _RECEIVER.handle(conn_id, raw_body, headers)
