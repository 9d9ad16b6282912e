"""Turn HTTP answers from the Feishu Open Platform into JSON payloads, checked tokens, or typed FeishuErrors."""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from typing import Any

from airflow_provider_feishu_workplace.exceptions import (
    SERVER_AT_FAULT,
    FeishuApiError,
    FeishuCredentialsError,
    FeishuNotFoundError,
    FeishuPermissionError,
    FeishuProtocolError,
    FeishuQuotaError,
    FeishuRateLimitError,
    FeishuRedirectError,
    FeishuTokenInvalidError,
    FeishuTransientError,
)

# A full page of 200 items is about 60 KB; an answer this large is not a page, and is not read to its end.
MAX_ANSWER_BYTES = 10 * 1024 * 1024
# A token goes into an HTTP header: visible ASCII only (no CR/LF, no spaces), and not absurdly long.
TOKEN_FORMAT = re.compile(r"[!-~]{1,2048}")
RATE_LIMITED = 99991400
TOKEN_REJECTED = frozenset({99991661, 99991663, 99991664, 99991665, 99991671})
# The platform's server-side codes; an API's own "internal error, retry" codes come from its caller.
TRANSIENT_CODES = frozenset({1500, 5000, 10101, 10500})
MISSING_SCOPE = 99991672

_CHECK_CREDENTIALS = "check the connection's App ID (login) and App Secret (password), and that the app is enabled"
_NOT_INSTALLED = "the app is not installed or not enabled in this tenant: ask a tenant admin to install and enable it"

# code -> (exception class, what to do)
_KNOWN_CODES: dict[int, tuple[type[FeishuApiError], str]] = {
    10003: (FeishuCredentialsError, f"Feishu rejected the app credentials: {_CHECK_CREDENTIALS}"),
    10014: (FeishuCredentialsError, f"Feishu rejected the app credentials: {_CHECK_CREDENTIALS}"),
    10015: (FeishuCredentialsError, f"Feishu rejected the app secret: {_CHECK_CREDENTIALS}"),
    99991543: (FeishuCredentialsError, f"Feishu does not know this app id/secret: {_CHECK_CREDENTIALS}"),
    10012: (
        FeishuCredentialsError,
        (
            "Feishu rejected the store app's app_ticket (bad or stale): update the connection's app_ticket_secret "
            "extra with the latest ticket pushed to the app (POST /open-apis/auth/v3/app_ticket/resend asks for a "
            "new push)"
        ),
    ),
    10013: (FeishuCredentialsError, "Feishu could not issue a tenant token for the store app: check tenant_key"),
    99992500: (FeishuCredentialsError, "Feishu does not know the store app's tenant_key: fix the tenant_key extra"),
    99992501: (FeishuCredentialsError, "Feishu does not know the store app's tenant_key: fix the tenant_key extra"),
    99991673: (FeishuPermissionError, _NOT_INSTALLED),
    11210: (FeishuPermissionError, _NOT_INSTALLED),
    20009: (FeishuPermissionError, _NOT_INSTALLED),
    99991401: (FeishuPermissionError, "this machine's IP is not on the app's IP allow-list: add it in the console"),
    99991403: (FeishuQuotaError, "the app's monthly API call quota is used up: wait for next month or raise the quota"),
}


def read_capped_body(response: Any, where: str) -> bytes:
    """Read a streamed ``requests`` answer's body, refusing one larger than MAX_ANSWER_BYTES."""

    def too_large() -> FeishuProtocolError:
        return FeishuProtocolError(
            f"Feishu answered {where} with more than {MAX_ANSWER_BYTES // (1024 * 1024)} MiB, far more than "
            f"any page takes (a full page is under 100 KB), so the answer was not read. {SERVER_AT_FAULT}",
            log_id=response.headers.get("X-Tt-Logid"),
            http_status=response.status_code,
        )

    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
        raise too_large()
    chunks, size = [], 0
    for chunk in response.iter_content(chunk_size=64 * 1024):
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:  # no or a false Content-Length, or a compressed body that grew
            raise too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def payload_or_error(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    where: str,
    retry_codes: Collection[int] = (),
    scope: str | None = None,
) -> dict[str, Any]:
    """Return the JSON payload of a successful answer, or raise the matching FeishuApiError.

    :param status: the HTTP status.
    :param headers: the answer's headers (case-insensitive mapping).
    :param body: the raw body.
    :param where: the request path, named in error messages.
    :param retry_codes: the API's own transient codes (its "internal error, retry"), retried like a 5xx.
    :param scope: the scope the API needs, named when the app lacks a scope (Feishu's msg names it too).
    """
    log_id = headers.get("X-Tt-Logid")
    try:
        payload = json.loads(body)
    except RecursionError:
        raise FeishuProtocolError(
            f"Feishu answered {where} with JSON nested too deeply to read; no answer of the API is. {SERVER_AT_FAULT}",
            log_id=log_id,
            http_status=status,
        ) from None
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise _not_json_error(status, headers, body, where=where, log_id=log_id)
    code = payload.get("code")
    error_block = payload.get("error")
    if isinstance(error_block, dict) and isinstance(error_block.get("log_id"), str | int) and error_block["log_id"]:
        log_id = str(error_block["log_id"])
    if status == 200 and code == 0:
        return payload
    msg = payload.get("msg")
    # Only text is shown: a nested structure could be huge or too deep to turn into text.
    msg = msg if isinstance(msg, str) else "" if msg is None else f"(a {type(msg).__name__}, not text)"
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    common: dict[str, Any] = {"code": code, "msg": msg, "log_id": log_id, "http_status": status}
    if status == 429 or code == RATE_LIMITED:
        retry_after = _retry_after(headers)
        raise FeishuRateLimitError(f"Feishu rate-limited {where}", retry_after=retry_after, **common)
    if code in TOKEN_REJECTED:
        raise FeishuTokenInvalidError(f"Feishu rejected the tenant access token on {where}", **common)
    if code == MISSING_SCOPE:
        needed = f"the scope {scope}" if scope else "a scope this API needs (msg names it)"
        advice = f"the app lacks {needed}: add it in the developer console and publish a new app version"
        raise FeishuPermissionError(f"{where}: {advice}", **common)
    if code in _KNOWN_CODES:
        error_class, advice = _KNOWN_CODES[code]
        raise error_class(f"{where}: {advice}", **common)
    if code in TRANSIENT_CODES or code in retry_codes or status >= 500:
        raise FeishuTransientError(f"Feishu had a server-side error on {where}", **common)
    raise FeishuApiError(f"Feishu refused {where}", **common)


def _not_json_error(
    status: int, headers: Mapping[str, str], body: bytes, *, where: str, log_id: str | None
) -> FeishuApiError:
    content_type = headers.get("Content-Type", "no content type")
    snippet = " ".join(body[:120].decode("utf-8", "replace").split())
    common: dict[str, Any] = {"http_status": status, "log_id": log_id, "msg": f"{content_type}: {snippet!r}"}
    if status == 404:
        return FeishuNotFoundError(
            f"{where} was not found (not JSON, so not the Feishu API): check the connection's Base URL", **common
        )
    if status == 429:
        return FeishuRateLimitError(f"Feishu rate-limited {where}", retry_after=_retry_after(headers), **common)
    # Gateways answer HTML error pages in front of a server that is down: worth another attempt.
    if status >= 500:
        return FeishuTransientError(f"Feishu answered {where} with a body that is not JSON", **common)
    if status == 200 and _declares_json(content_type):
        # A JSON answer that does not parse was cut short on the way (a dropped connection): send it again.
        return FeishuTransientError(f"Feishu answered {where} with JSON cut short or garbled", **common)
    if status == 200:
        # A success that is not JSON (a file, an image, a portal's HTML page) is no answer of a JSON API and
        # would be the same again: a protocol error, not retried. Download APIs need a client that reads bytes.
        return FeishuProtocolError(
            f"Feishu answered {where} with HTTP 200 and {content_type}, not JSON: this hook reads JSON APIs only",
            **common,
        )
    return FeishuApiError(f"Feishu answered {where} with a body that is not JSON", **common)


def _declares_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("x-ogw-ratelimit-reset") or headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def redirect_error(response: Any, url: str, path: str) -> FeishuRedirectError:
    """A redirect, named by the origin and path it points at (never its query, which may hold anything)."""
    from urllib.parse import urljoin, urlsplit

    location = response.headers.get("Location") or ""
    try:
        parts = urlsplit(urljoin(url, location))
        port = f":{parts.port}" if parts.port else ""
        shown = f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}" if location else "no Location"
    except ValueError:
        shown = "an unreadable Location"
    shown = shown if len(shown) <= 200 else shown[:197] + "..."
    return FeishuRedirectError(
        f"{path} answered with a redirect to {shown}, which is not followed: credentials go only to the "
        "connection's Base URL. Set the Base URL to the host the API really lives on",
        location=shown,
        http_status=response.status_code,
        log_id=response.headers.get("X-Tt-Logid"),
    )


def required_token(answer: dict[str, Any], name: str, where: str) -> str:
    """A token from an answer, refused (without showing it) unless it can travel in an HTTP header."""
    value = required_field(answer, name, str, where)
    if not TOKEN_FORMAT.fullmatch(value):
        raise FeishuProtocolError(
            f"{where} answered code 0 with a {name} that is not a valid token (only visible ASCII characters, "
            f"at most 2048, may go into the Authorization header; it had {len(value)} characters). {SERVER_AT_FAULT}"
        )
    return value


def required_field(answer: dict[str, Any], name: str, kind: type, where: str) -> Any:
    value = answer.get(name)
    if not isinstance(value, kind) or isinstance(value, bool) or not value:
        raise FeishuProtocolError(f"{where} answered code 0 without a usable {name!r}")
    return value
