"""The platform's event deliveries to an app's callback, built as the Open Platform sends them.

A delivery is the raw body and headers of one ``POST`` to the callback URL: a schema 1.0 envelope
(``uuid``, ``token``, ``ts``, ``type``, ``event``), encrypted as ``{"encrypt": ...}`` and signed when the
app has an Encrypt Key. Used by the double (:mod:`._pusher`) and by tests that post deliveries themselves.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid as uuid_module
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_feishu_workplace.store_apps import crypto

__all__ = ["Delivery", "deliver", "envelope", "handshake"]


@dataclass(frozen=True)
class Delivery:
    """One request to the callback: the exact body bytes and the headers (the signature is over ``body``)."""

    body: bytes = field(repr=False)
    headers: dict[str, str] = field(repr=False)
    event_id: str = ""


def envelope(
    event_type: str,
    event: dict[str, Any],
    *,
    app_id: str,
    token: str,
    event_id: str | None = None,
    ts: float | None = None,
) -> dict[str, Any]:
    """A schema 1.0 event callback: ``event`` gets ``type`` and ``app_id``; ``uuid`` is new unless given."""
    return {
        "uuid": event_id or uuid_module.uuid4().hex,
        "token": token,
        "ts": f"{time.time() if ts is None else ts:.6f}",
        "type": "event_callback",
        "event": {"type": event_type, "app_id": app_id, **event},
    }


def handshake(challenge: str, token: str) -> dict[str, Any]:
    """The URL verification the console sends when the callback URL is saved."""
    return {"challenge": challenge, "token": token, "type": "url_verification"}


def deliver(
    payload: dict[str, Any],
    *,
    encrypt_key: str | None,
    timestamp: str | None = None,
    nonce: str | None = None,
    sign: bool = True,
) -> Delivery:
    """Build the request for ``payload``: encrypted and signed with ``encrypt_key``, plain without one.

    :param timestamp: ``X-Lark-Request-Timestamp`` (seconds); now by default.
    :param sign: ``False`` leaves the signature header out (the handshake as some SDKs treat it).
    """
    plain = json.dumps(payload, ensure_ascii=False)
    body = json.dumps({"encrypt": crypto.encrypt(plain, encrypt_key)}) if encrypt_key else plain
    raw = body.encode()
    timestamp = timestamp if timestamp is not None else str(int(time.time()))
    nonce = nonce if nonce is not None else secrets.token_hex(8)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "X-Lark-Request-Timestamp": timestamp,
        "X-Lark-Request-Nonce": nonce,
    }
    if encrypt_key and sign:
        headers["X-Lark-Signature"] = crypto.sign(timestamp, nonce, encrypt_key, raw)
    return Delivery(body=raw, headers=headers, event_id=str(payload.get("uuid", "")))
