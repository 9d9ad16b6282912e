"""What a handler of a route added with :meth:`FeishuDouble.add_route` receives, and how it answers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_feishu_workplace.testing import _page_tokens, _replies
from airflow_provider_feishu_workplace.testing._replies import Reply


@dataclass(frozen=True)
class RouteRequest:
    """A request that reached an added route, after the double checked its tenant token and rate limit.

    :param method: HTTP method.
    :param path: the path asked for.
    :param path_params: the template's ``{name}`` segments, e.g. ``{"user_id": "ou_1"}``.
    :param query: query-string parameters.
    :param body: the JSON body as a dict, or ``None``.
    :param headers: request headers, names lower-cased.
    :param app_id: the app whose tenant token came with the request.
    """

    method: str
    path: str
    path_params: dict[str, str]
    query: dict[str, str]
    body: dict[str, Any] | None
    headers: dict[str, str]
    app_id: str | None


class PlatformError(Exception):
    """Raise it in a route handler to answer as the platform does when it refuses a request.

    :param code: the API's error code.
    :param msg: its message.
    :param http_status: the HTTP status (the platform's business errors come with 400).
    """

    def __init__(self, code: int, msg: str, *, http_status: int = 400) -> None:
        super().__init__(f"{code}: {msg}")
        self.code, self.msg, self.http_status = code, msg, http_status


def answer(handler: Callable[[RouteRequest], Any], request: RouteRequest) -> Reply:
    """Run ``handler``: what it returns becomes the answer's ``data``; a PlatformError, the error answer."""
    try:
        data = handler(request)
    except PlatformError as error:
        return _replies.error(error.code, error.msg, status=error.http_status)
    return Reply(payload={"code": 0, "msg": "success", **({} if data is None else {"data": data})})


def page_of(items: Sequence[Any], request: RouteRequest, *, default_page_size: int = 20) -> dict[str, Any]:
    """One page of ``items`` as the platform's list APIs answer it: ``items``, ``has_more``, ``page_token``.

    Reads ``page_size`` and ``page_token`` from the request's query; the tokens are opaque and bound to the
    path, so a handler pages through any list in one line: ``return page_of(USERS, request)``. A bad
    ``page_size`` or ``page_token`` raises :class:`PlatformError` (code 99992402, field validation failed).
    """
    raw_size = request.query.get("page_size") or str(default_page_size)
    if not raw_size.isdigit() or int(raw_size) < 1:
        raise PlatformError(_replies.FIELD_VALIDATION_FAILED, f"field validation failed: page_size {raw_size!r}")
    size = int(raw_size)
    fingerprint = _page_tokens.fingerprint(request.method, request.path, len(items))
    token = request.query.get("page_token")
    start = _page_tokens.decode(token, fingerprint) if token else 0
    if start is None:
        raise PlatformError(_replies.FIELD_VALIDATION_FAILED, "field validation failed: page_token is invalid")
    end = start + size
    data: dict[str, Any] = {"items": list(items[start:end]), "has_more": end < len(items)}
    if end < len(items):
        data["page_token"] = _page_tokens.encode(end, fingerprint)
    return data
