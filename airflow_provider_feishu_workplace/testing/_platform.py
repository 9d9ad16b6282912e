"""The platform as the double plays it: one request in, one reply out, no sockets involved."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from airflow_provider_feishu_workplace.testing import _auth, _faults, _replies, _route_handlers, _routes, hostile
from airflow_provider_feishu_workplace.testing._data import Dataset
from airflow_provider_feishu_workplace.testing._messages import Messenger
from airflow_provider_feishu_workplace.testing._ratelimit import RateLimiter
from airflow_provider_feishu_workplace.testing._replies import Reply
from airflow_provider_feishu_workplace.testing._search import PageRequest, parse, search
from airflow_provider_feishu_workplace.testing._tokens import TokenIssuer

MISSING_TOKEN_MSG = "Missing access token for authorization. Please make a request with token attached."

# The documented limit of the search endpoints, used in injected rate-limit answers when the
# double's own limiter is off.
DOCUMENTED_RATE = 20


class Incoming(NamedTuple):
    """A request as the platform sees it."""

    endpoint: str | None  # from Routes.endpoint_for(); None answers 404
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: dict[str, Any] | None  # the JSON object sent, if any


@dataclass(kw_only=True, eq=False)
class Platform:
    """Answer requests the way the Feishu Open Platform does.

    Order of checks: injected fault, route (404), token (every API but the auth ones), rate limit,
    parameters, then the answer.
    """

    credentials: _auth.Credentials
    issuer: TokenIssuer
    limiter: RateLimiter
    faults: _faults.FaultQueue
    dataset: Dataset
    rate_limit_reset_seconds: float
    routes: _routes.Routes
    messenger: Messenger

    def handle(self, request: Incoming) -> Reply:
        """Answer one request."""
        fault = self.faults.take(request.endpoint)
        if fault is None:
            return self._answer(request)
        if fault.kind == "connection_reset":
            return Reply(reset=True, fault=fault.kind)
        if fault.kind == "hostile":
            return self._hostile(fault, request)
        if fault.kind in ("slow", "truncated_json"):
            reply = self._answer(request)
            if fault.kind == "slow":
                reply.delay = fault.params["delay"]
            if fault.kind == "truncated_json":
                reply.status, reply.content_type, reply.truncate = 200, _replies.JSON_TYPE, True
            reply.fault = fault.kind
            return reply
        if fault.kind == "token_expired":
            self.issuer.expire_all("tenant")
        rate = self.limiter.rate if self.limiter.rate is not None else DOCUMENTED_RATE
        spec = self.routes.specs.get(request.endpoint) if request.endpoint else None
        return _faults.fault_reply(
            fault,
            request.endpoint,
            rate_limit=rate,
            app_id=self.credentials.app_id,
            internal_error=spec.internal_error if spec else None,
        )

    def _hostile(self, fault: _faults.Fault, request: Incoming) -> Reply:
        """A code-0 answer that breaks the contract; requests that would fail anyway get their error."""
        reply = self._answer(request)
        if reply.code != 0:
            return reply
        assert request.endpoint is not None  # the normal answer succeeded
        page = parse(self.routes.specs[request.endpoint], request.query)
        if not isinstance(page, PageRequest):  # cannot happen: the normal answer succeeded
            return page
        reply = hostile.hostile_reply(fault.params["mode"], fault.params, page, self.dataset)
        reply.fault = fault.kind
        return reply

    def _answer(self, request: Incoming) -> Reply:
        endpoint, body = request.endpoint, request.body
        if endpoint is None:
            return _replies.not_found()
        spec = self.routes.specs.get(endpoint)
        if endpoint not in _auth.HANDLERS:
            authorization = request.headers.get("authorization", "")
            token = authorization[len("Bearer ") :].strip() if authorization.startswith("Bearer ") else ""
            if not token:
                return _replies.error(99991661, MISSING_TOKEN_MSG)
            owner = self.issuer.owner_of(token, "tenant")
            if owner is None:
                return _replies.error(99991663, _faults.INVALID_TOKEN_MSG)
            assert isinstance(owner, tuple)  # a tenant token's owner is (app_id, tenant_key)
            app = owner[0]
        else:
            app = body.get("app_id") if body else None
            app = app if isinstance(app, str) else None
        # The platform limits each API per app, whatever ids its path carries.
        if not self.limiter.allow((app, endpoint)):
            rate = self.limiter.rate if self.limiter.rate is not None else DOCUMENTED_RATE
            return _replies.rate_limited(limit=rate, reset=self.rate_limit_reset_seconds)
        if spec is not None:
            return search(spec, request.query, self.dataset)
        if endpoint == _routes.SEND_MESSAGE:
            return self.messenger.send(request.query, body, app)
        route = self.routes.added.get(endpoint)
        if route is not None:
            path_params = route.match(request.method, request.path) or {}
            incoming = _route_handlers.RouteRequest(
                request.method, request.path, path_params, request.query, body, request.headers, app
            )
            return _route_handlers.answer(route.handler, incoming)
        return _auth.HANDLERS[endpoint](body or {}, self.credentials, self.issuer)
