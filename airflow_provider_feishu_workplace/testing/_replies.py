"""What the double answers: a small reply object and the platform's standard answer shapes."""

from __future__ import annotations

import http
import itertools
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

JSON_TYPE = "application/json; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"
HTML_TYPE = "text/html"
FIELD_VALIDATION_FAILED = 99992402


@dataclass
class Reply:
    """One answer, before it is encoded: a JSON ``payload`` or a non-JSON ``text`` body."""

    status: int = 200
    payload: dict[str, Any] | None = None
    text: str | None = None
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)
    #: Fault kind that shaped this reply, for the request record.
    fault: str | None = None
    #: Close the connection with a TCP reset instead of answering.
    reset: bool = False
    #: Cut the encoded body in half (the ``truncated_json`` fault).
    truncate: bool = False
    #: Seconds to wait before answering (the ``slow`` fault), after the request is recorded.
    delay: float = 0.0
    #: Send ``Content-Length``; without it the body ends when the connection closes (``huge_body``).
    content_length: bool = True
    #: Sent as ``X-Tt-Logid`` and, in error payloads, as ``error.log_id``.
    log_id: str = ""

    @property
    def code(self) -> int | None:
        """The ``code`` field of the JSON answer as the client will see it, or ``None``."""
        if self.payload is None or self.truncate:
            return None
        return self.payload.get("code")

    def encode(self) -> bytes:
        """Serialise the body; error payloads get ``error.log_id`` like the platform's."""
        if self.payload is None:
            return (self.text or "").encode("utf-8")
        payload = self.payload
        if payload.get("code"):
            payload = {**payload, "error": {"log_id": self.log_id, **payload.get("error", {})}}
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        if self.truncate:
            body = body[: len(body) // 2]
        return body


def ok(**fields: Any) -> Reply:
    """A success answer with top-level fields (the auth endpoints' shape)."""
    return Reply(payload={"code": 0, "msg": "ok", **fields})


def success(data: dict[str, Any]) -> Reply:
    """A success answer carrying ``data`` (the search endpoints' shape)."""
    return Reply(payload={"code": 0, "msg": "success", "data": data})


def error(
    code: int,
    msg: str,
    *,
    status: int = 400,
    headers: dict[str, str] | None = None,
    **error_fields: Any,
) -> Reply:
    """An error answer; ``error_fields`` go under ``error`` next to the log id."""
    payload: dict[str, Any] = {"code": code, "msg": msg}
    if error_fields:
        payload["error"] = error_fields
    return Reply(status=status, payload=payload, headers=dict(headers or {}))


def field_violation(field: str, value: str | None, description: str) -> Reply:
    """The gateway's generic answer to a parameter that fails validation."""
    violation = {"field": field, "value": value or "", "description": description}
    return error(FIELD_VALIDATION_FAILED, "field validation failed", field_violations=[violation])


def not_found() -> Reply:
    """The gateway's answer to an unknown path or method: plain text, not JSON."""
    return Reply(status=404, text="404 page not found", content_type=TEXT_TYPE)


_log_ids = itertools.count(1)
_log_id_salt = os.urandom(3).hex().upper()


def new_log_id() -> str:
    """A unique log id shaped like the platform's (timestamp, then hex)."""
    return f"{time.strftime('%Y%m%d%H%M%S')}{_log_id_salt}{next(_log_ids):010X}"


def rate_limited(*, limit: float, reset: float, status: int = 429) -> Reply:
    """The gateway's rate-limit answer (HTTP 429, or 400 on older APIs) with its headers."""
    headers = {"x-ogw-ratelimit-limit": _number(limit), "x-ogw-ratelimit-reset": _number(reset)}
    return error(99991400, "request trigger frequency limit", status=status, headers=headers)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def phrase(status: int) -> str:
    """The reason phrase of an HTTP status ("Bad Gateway"), or "Error" for unregistered ones."""
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"
