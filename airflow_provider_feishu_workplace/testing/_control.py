"""The served double's control API: a second loopback port through which live tests steer the double.

The Feishu port stays a faithful copy of the Open Platform; everything a test of a running deployment
needs to change or read (publish a day late, queue faults, read the request log, reset) goes through
this one, with JSON in and out:

| method and path | does |
|---|---|
| ``GET /health`` | ``{"ok": true, "url": <the Feishu URL>}`` |
| ``POST /publish`` ``{"day": "YYYY-MM-DD", "seconds_from_now": 30}`` | hold the day back 30 s (``null``: until told) |
| ``GET /publish?day=YYYY-MM-DD`` | ``{"day": ..., "published": true/false}`` |
| ``POST /faults`` ``{"kind": "rate_limit", "endpoint": "search", "skip": 0, "times": 1, ...}`` | queue a fault |
| ``GET /requests?limit=100&endpoint=search`` | the latest requests, oldest first, secrets replaced by ``***`` |
| ``GET /stats`` | every request since the start or the last clear, by endpoint and HTTP status |
| ``DELETE /requests`` | forget the request log and the counts |
| ``POST /endpoints`` ``{"name": "app", "path": ...}`` | serve one more endpoint: :meth:`FeishuDouble.add_endpoint` |
| ``POST /reset`` | :meth:`FeishuDouble.reset`: faults, log, publication times, tokens, rate-limit buckets |
| ``POST /events/callback`` ``{"url", "encrypt_key", "verification_token", ...}`` | push events there, a ticket now |
| ``POST /events`` ``{"type": "app_open", "tenant_key": ..., "status": ...}`` | push one event; ``{"event_id"}`` |
| ``GET /events`` | every pushed event: id, type, each attempt's HTTP status, delivered |
| ``POST /tickets/expire`` | every app ticket issued so far stops being accepted (10012) |
| ``POST /tenants`` ``{"tenant_key": ..., "enabled": false}`` | :meth:`FeishuDouble.set_tenant`, no event pushed |

``/events/callback`` takes :class:`EventPusher`'s options (``ticket_interval``, ``timeout``, ``retry_delays``) and
``ticket_lifetime``; ``POST /events`` with ``"type": "app_ticket"`` pushes a new ticket.

Errors answer HTTP 400 (a bad value; the message names it) or 404 (an unknown path) with ``{"error": ...}``.

Every request must carry the run's token, ``Authorization: Bearer <token>`` (the ``control_token`` of the
double's JSON line; :class:`ServedDouble` sends it), else HTTP 401; and a ``Host`` that names loopback
(``127.0.0.1``, ``localhost``, ``[::1]``) and no ``Origin`` but the control API's own, else HTTP 403. So
another local user, or a web page open in a browser (a cross-origin form post, DNS rebinding), cannot
steer the double.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow_provider_feishu_workplace.testing._pusher import EventPusher
from airflow_provider_feishu_workplace.testing._replies import Reply

if TYPE_CHECKING:
    from airflow_provider_feishu_workplace.testing._double import FeishuDouble, RecordedRequest

#: The most requests one ``GET /requests`` answers.
MAX_LIMIT = 10_000
_SECRET_FIELDS = ("app_secret", "app_ticket", "app_access_token")
_SECRET_HEADERS = ("authorization", "cookie")
#: The host names a control request may be addressed to (its ``Host`` header, without the port).
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


class BadRequest(ValueError):
    """A control request the double cannot act on; its message goes back to the caller."""


class Control:
    """Answer control requests for ``double`` (a responder for :class:`DoubleServer`).

    :param token: the credential every request must carry; a fresh random one when not given.
    """

    def __init__(self, double: FeishuDouble, token: str | None = None) -> None:
        self.double = double
        #: The run's credential: ``Authorization: Bearer <token>``.
        self.token = token or secrets.token_urlsafe(32)
        self.pusher: EventPusher | None = None

    def __call__(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes) -> Reply:
        refusal = self._refusal(headers)
        if refusal is not None:
            return refusal
        routes = {
            ("GET", "/health"): self._health,
            ("GET", "/publish"): self._published,
            ("POST", "/publish"): self._publish,
            ("POST", "/faults"): self._inject,
            ("GET", "/requests"): self._requests,
            ("DELETE", "/requests"): _done("cleared", self.double.clear_requests),
            ("GET", "/stats"): self._stats,
            ("POST", "/endpoints"): self._add_endpoint,
            ("POST", "/reset"): _done("reset", self.double.reset),
            ("POST", "/events/callback"): self._push_to,
            ("POST", "/events"): self._push_event,
            ("GET", "/events"): self._pushed_events,
            ("POST", "/tickets/expire"): _done("expired", self.double._issuer.expire_tickets),
            ("POST", "/tenants"): self._set_tenant,
        }
        route = routes.get((method, path.rstrip("/") or "/"))
        if route is None:
            known = ", ".join(f"{verb} {where}" for verb, where in routes)
            return _answer({"error": f"no control endpoint {method} {path}: use one of {known}"}, 404)
        try:
            return _answer(route(query, _json_body(body)))
        except (BadRequest, ValueError, TypeError) as error:
            return _answer({"error": str(error)}, 400)

    def _refusal(self, headers: dict[str, str]) -> Reply | None:
        """The answer to a request from outside: a foreign Host or Origin (403), no or a wrong token (401)."""
        host = headers.get("host", "")
        if _hostname(host) not in LOOPBACK_NAMES:
            return _answer({"error": f"Host {host!r} is not loopback: the control API answers only 127.0.0.1"}, 403)
        origin = headers.get("origin")
        if origin is not None and origin != f"http://{host}":
            refused = f"Origin {origin!r} is not the control API's own: cross-origin requests are refused"
            return _answer({"error": refused}, 403)
        scheme, _, given = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self.token.encode()):
            return _answer(
                {"error": "no valid token: send 'Authorization: Bearer <control_token>' (the double's JSON line)"}, 401
            )
        return None

    def _health(self, query: dict[str, str], body: Any) -> dict[str, Any]:
        return {"ok": True, "url": self.double.url}

    def _publish(self, query: dict[str, str], body: Any) -> dict[str, Any]:
        fields = _object(body, "POST /publish")
        day = fields.get("day")
        if "seconds_from_now" not in fields:
            raise BadRequest('POST /publish needs "seconds_from_now": a number of seconds, or null to hold the day')
        day = _day(day)
        self.double.publish_at(day, fields["seconds_from_now"])
        return {"day": day, "published": self.double.is_published(day)}

    def _published(self, query: dict[str, str], body: Any) -> dict[str, Any]:
        day = query.get("day")
        return {"day": day, "published": self.double.is_published(_day(day))}

    def _inject(self, query: dict[str, str], body: Any) -> dict[str, Any]:
        fields = dict(_object(body, "POST /faults"))
        kind = fields.pop("kind", None)
        if not isinstance(kind, str):
            raise BadRequest('POST /faults needs "kind": one of the fault kinds (python -m ... testing faults)')
        self.double.inject(kind, **fields)
        return {"queued": kind}

    def _requests(self, query: dict[str, str], body: Any) -> dict[str, Any]:
        limit = _whole(query.get("limit", "100"), "limit")
        if not 1 <= limit <= MAX_LIMIT:
            raise BadRequest(f"limit={limit} must be between 1 and {MAX_LIMIT}")
        endpoint = query.get("endpoint")
        records = self.double.calls(endpoint) if endpoint else self.double.requests
        return {"requests": [_public(record) for record in records[-limit:]], "matching": len(records)}

    def _stats(self, query: dict[str, str], body: Any) -> dict[str, Any]:
        by_endpoint: dict[str, dict[str, int]] = {}
        total = 0
        for (endpoint, status), count in sorted(self.double.request_counts().items(), key=str):
            statuses = by_endpoint.setdefault(endpoint or "unknown", {})
            statuses[str(status) if status is not None else "reset"] = count
            total += count
        return {"total": total, "by_endpoint": by_endpoint}

    def _add_endpoint(self, query: dict[str, str], body: Any) -> dict[str, Any]:
        fields = dict(_object(body, "POST /endpoints"))
        name = fields.pop("name", None)
        spec = self.double.add_endpoint(name, **fields)
        return {"added": spec.name, "path": spec.path}

    # -- store-app events ------------------------------------------------------------------

    def _push_to(self, query: dict[str, str], body: Any) -> dict[str, Any]:
        fields = dict(_object(body, "POST /events/callback"))
        url = fields.pop("url", None)
        if not isinstance(url, str):
            raise BadRequest('POST /events/callback needs "url": the app\'s event callback URL')
        lifetime = fields.pop("ticket_lifetime", None)
        if "retry_delays" in fields:
            fields["retry_delays"] = tuple(fields["retry_delays"])
        pusher = EventPusher.for_double(self.double, url, **fields)  # checks the options before anything stops
        if lifetime is not None:
            self.double._issuer.ticket_lifetime = float(lifetime)
        if self.pusher is not None:
            self.pusher.stop()
        self.pusher = pusher.start()
        return {"pushing_to": url}

    def _push_event(self, query: dict[str, str], body: Any) -> dict[str, Any]:
        fields = _object(body, "POST /events")
        pusher = self._running_pusher()
        if fields.get("type") == "app_ticket":
            return {"event_id": pusher.push_ticket()}
        return {
            "event_id": pusher.push_tenant_event(
                str(fields.get("type", "")), str(fields.get("tenant_key", "")), status=fields.get("status")
            )
        }

    def _pushed_events(self, query: dict[str, str], body: Any) -> dict[str, Any]:
        records = self.pusher.records if self.pusher is not None else []
        return {
            "events": [
                {"event_id": r.event_id, "type": r.event_type, "statuses": r.statuses, "delivered": r.delivered}
                for r in records
            ]
        }

    def _set_tenant(self, query: dict[str, str], body: Any) -> dict[str, Any]:
        fields = _object(body, "POST /tenants")
        enabled = fields.get("enabled", True)
        if not isinstance(enabled, bool):
            raise BadRequest(f'"enabled"={enabled!r} must be true or false')
        self.double.set_tenant(str(fields.get("tenant_key", "")), enabled=enabled)
        return {"tenant_key": fields["tenant_key"], "enabled": enabled}

    def _running_pusher(self) -> EventPusher:
        if self.pusher is None:
            raise BadRequest("no callback yet: POST /events/callback first")
        return self.pusher


def _done(key: str, action: Callable[[], object]) -> Callable[[dict[str, str], Any], dict[str, Any]]:
    """A control endpoint that takes no arguments: it does ``action`` and answers ``{key: true}``."""

    def answer(query: dict[str, str], body: Any) -> dict[str, Any]:
        action()
        return {key: True}

    return answer


def _hostname(host: str) -> str:
    """The name in a ``Host`` header: ``127.0.0.1:8080`` -> ``127.0.0.1``, ``[::1]:80`` -> ``::1``."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _answer(payload: dict[str, Any], status: int = 200) -> Reply:
    return Reply(status=status, payload=payload)


def _json_body(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise BadRequest("the body is not JSON: send a JSON object") from None


def _object(body: Any, where: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest(f"{where} needs a JSON object body")
    return body


def _day(day: Any) -> str:
    if not isinstance(day, str) or not day:
        raise BadRequest(f'day={day!r}: give "day" as "YYYY-MM-DD"')
    return day


def _whole(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise BadRequest(f"{name}={text!r} must be a whole number") from None


def _public(record: RecordedRequest) -> dict[str, Any]:
    """One request as JSON, with the credentials it carried replaced by ``***``."""
    body = record.body
    if body is not None:
        body = {name: "***" if name in _SECRET_FIELDS else value for name, value in body.items()}
    headers = {name: "***" if name in _SECRET_HEADERS else value for name, value in record.headers.items()}
    return {
        "method": record.method,
        "path": record.path,
        "endpoint": record.endpoint,
        "query": record.query,
        "body": body,
        "headers": headers,
        "status": record.status,
        "code": record.code,
        "fault": record.fault,
        "log_id": record.log_id,
        "received_at": record.received_at,
    }
