"""Opaque, signed page tokens: an offset bound to the query it belongs to."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json

# A fixed key keeps answers byte-for-byte identical across runs; the signature is there to
# catch clients that edit or reuse tokens, not attackers.
_KEY = b"feishu-double-page-token"


def fingerprint(*query: object) -> str:
    """A short digest of the parameters that define a query (not the page size)."""
    return hashlib.sha256(repr(query).encode("utf-8")).hexdigest()[:16]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(offset: int, query: str) -> str:
    """The token for the page that starts at ``offset`` of the query with fingerprint ``query``."""
    body = json.dumps({"offset": offset, "query": query}, separators=(",", ":")).encode("ascii")
    signature = hmac.new(_KEY, body, hashlib.sha256).digest()[:12]
    return f"{_b64(body)}.{_b64(signature)}"


def decode(token: str, query: str) -> int | None:
    """The offset in ``token``, or ``None`` if it is malformed, forged or from another query."""
    try:
        body_part, signature_part = token.split(".")
        body = _unb64(body_part)
        expected = hmac.new(_KEY, body, hashlib.sha256).digest()[:12]
        if not hmac.compare_digest(expected, _unb64(signature_part)):
            return None
        fields = json.loads(body)
    except (ValueError, binascii.Error):
        return None
    if not isinstance(fields, dict):
        return None
    offset = fields.get("offset")
    if fields.get("query") != query or type(offset) is not int or offset < 0:
        return None
    return offset
