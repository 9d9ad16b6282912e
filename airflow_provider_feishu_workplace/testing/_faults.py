"""Injected faults: what each kind answers, and the queue that hands them out in order."""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass, field, replace
from typing import Any

from airflow_provider_feishu_workplace.testing import _replies, _routes, hostile
from airflow_provider_feishu_workplace.testing._replies import Reply

_REQUIRED = object()

#: Each fault kind and its parameters with their defaults.
PARAMS: dict[str, dict[str, Any]] = {
    "rate_limit": {"reset": 0},
    "rate_limit_400": {"reset": 0},
    "server_error": {"status": 500, "code": 1500, "msg": "internal error"},
    "gateway_html": {"status": 502},
    "internal_error": {},
    "connection_reset": {},
    "slow": {"delay": 2.0},
    "truncated_json": {},
    "token_expired": {},
    "missing_scope": {},
    "quota": {},
    "app_not_installed": {},
    "error": {"code": _REQUIRED, "http_status": 400, "msg": "error"},
    # A code-0 answer that breaks the contract: see hostile.MODES.
    "hostile": {"mode": _REQUIRED, **hostile.PARAMS},
}

#: What each fault kind answers in place of the normal answer.
DESCRIPTIONS: dict[str, str] = {
    "rate_limit": "HTTP 429, code 99991400, headers x-ogw-ratelimit-limit and x-ogw-ratelimit-reset (reset seconds)",
    "rate_limit_400": "the same as rate_limit with HTTP 400, as some older APIs answer",
    "server_error": "HTTP status with a JSON body of code and msg",
    "gateway_html": "an nginx HTML error page with HTTP status",
    "internal_error": "the search endpoint's documented internal-error code (1628003, 1621003, 1629004) "
    "with HTTP 400; other endpoints: code 1500 with HTTP 500",
    "connection_reset": "no answer: the connection is closed with a TCP reset",
    "slow": "the normal answer, after delay seconds",
    "truncated_json": "HTTP 200 with the first half of the normal JSON body",
    "token_expired": "code 99991663 (invalid token), and every tenant token issued so far expires",
    "missing_scope": "code 99991672 naming the missing scope workplace:workplace_using_data:read",
    "quota": "code 99991403: the month's API call quota is used up",
    "app_not_installed": "code 99991673: the app is disabled or not installed in the tenant",
    "error": "any error answer: code and msg with HTTP http_status",
    "hostile": "HTTP 200 and code 0, but the page breaks the API contract as mode says (see HOSTILE_MODES)",
}


class FaultKind(enum.StrEnum):
    """The faults :meth:`FeishuDouble.inject` queues; plain strings (``"rate_limit"``) work as well.

    ``kind.description`` says what the fault answers; ``kind.required`` and ``kind.defaults`` name its
    parameters.
    """

    RATE_LIMIT = "rate_limit"
    RATE_LIMIT_400 = "rate_limit_400"
    SERVER_ERROR = "server_error"
    GATEWAY_HTML = "gateway_html"
    INTERNAL_ERROR = "internal_error"
    CONNECTION_RESET = "connection_reset"
    SLOW = "slow"
    TRUNCATED_JSON = "truncated_json"
    TOKEN_EXPIRED = "token_expired"
    MISSING_SCOPE = "missing_scope"
    QUOTA = "quota"
    APP_NOT_INSTALLED = "app_not_installed"
    ERROR = "error"
    HOSTILE = "hostile"

    @property
    def description(self) -> str:
        """What the fault answers in place of the normal answer."""
        return DESCRIPTIONS[self.value]

    @property
    def required(self) -> tuple[str, ...]:
        """The parameters ``inject`` must be given for this kind (``error``'s code, ``hostile``'s mode)."""
        return tuple(name for name, value in PARAMS[self.value].items() if value is _REQUIRED)

    @property
    def defaults(self) -> dict[str, Any]:
        """The optional parameters and their defaults."""
        return {name: value for name, value in PARAMS[self.value].items() if value is not _REQUIRED}


#: The fault kinds :meth:`FeishuDouble.inject` accepts, as strings.
FAULT_KINDS: tuple[str, ...] = tuple(PARAMS)

#: The modes of the ``hostile`` fault (``inject("hostile", mode=...)``) and what each answers.
HOSTILE_MODES: dict[str, str] = hostile.MODES

SCOPE = "workplace:workplace_using_data:read"

INVALID_TOKEN_MSG = "Invalid access token for authorization. Please make a request with token attached."

_GATEWAY_PAGE = (
    "<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


@dataclass
class Fault:
    """A queued fault: ``kind`` hits ``times`` requests (``None``: all) to ``endpoint`` after ``skip`` pass."""

    kind: str
    endpoint: str = "search"
    skip: int = 0
    times: int | None = 1
    params: dict[str, Any] = field(default_factory=dict)


def make_fault(
    kind: str, endpoint: str, skip: int, times: int | None, params: dict[str, Any], routes: _routes.Routes
) -> Fault:
    """Check a fault's arguments and fill in parameter defaults; ``ValueError`` names what is wrong."""
    if not isinstance(kind, str) or kind not in PARAMS:
        raise ValueError(f"unknown fault kind {kind!r}; choose one of {list(FAULT_KINDS)}")
    kind = str(kind)  # a FaultKind is recorded as its plain value
    routes.check_selector(endpoint)
    if skip < 0 or (times is not None and times < 1):
        raise ValueError(f"need skip >= 0 and times >= 1 (or None: forever), got skip={skip} times={times}")
    unknown = set(params) - set(PARAMS[kind])
    if unknown:
        raise ValueError(f"fault {kind!r} takes parameters {sorted(PARAMS[kind])}, not {sorted(unknown)}")
    merged = {**PARAMS[kind], **params}
    missing = [name for name, value in merged.items() if value is _REQUIRED]
    if missing:
        raise ValueError(f"fault {kind!r} needs parameters {missing}")
    if kind == "hostile":
        hostile.check(merged["mode"])
        if endpoint != "search" and endpoint not in routes.search_endpoints:
            raise ValueError(
                f"fault 'hostile' changes search answers: use endpoint='search' or one of "
                f"{list(routes.search_endpoints)}, not {endpoint!r}"
            )
    return Fault(kind, endpoint, skip, times, merged)


class FaultQueue:
    """Faults in the order queued; each request meets at most the first fault that selects it."""

    def __init__(self, routes: _routes.Routes) -> None:
        self._routes = routes
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        """Queue ``fault`` behind the ones already queued."""
        with self._lock:
            self._faults.append(replace(fault))

    def take(self, endpoint: str | None) -> Fault | None:
        """The fault to apply to a request that reached ``endpoint``, or ``None`` to answer normally."""
        with self._lock:
            for index, fault in enumerate(self._faults):
                if not self._routes.matches(fault.endpoint, endpoint):
                    continue
                if fault.skip:
                    fault.skip -= 1
                    return None
                if fault.times is not None:
                    fault.times -= 1
                    if not fault.times:
                        del self._faults[index]
                return fault
            return None

    def clear(self) -> None:
        """Drop every queued fault."""
        with self._lock:
            self._faults.clear()


def fault_reply(
    fault: Fault, endpoint: str | None, *, rate_limit: float, app_id: str, internal_error: int | None = None
) -> Reply:
    """The answer a fault gives in place of the normal one (for the kinds that replace it).

    :param internal_error: the search endpoint's "internal error, retry" code (``None``: not a search).
    :param rate_limit: the value of the ``x-ogw-ratelimit-limit`` header.
    :param app_id: the app named in the missing-scope message's link.
    """
    params = fault.params
    match fault.kind:
        case "rate_limit" | "rate_limit_400":
            status = 429 if fault.kind == "rate_limit" else 400
            reply = _replies.rate_limited(limit=rate_limit, reset=params["reset"], status=status)
        case "server_error":
            reply = _replies.error(params["code"], params["msg"], status=params["status"])
        case "gateway_html":
            page = _GATEWAY_PAGE.format(status=params["status"], phrase=_replies.phrase(params["status"]))
            reply = Reply(status=params["status"], text=page, content_type=_replies.HTML_TYPE)
        case "internal_error" if internal_error is not None:
            reply = _replies.error(internal_error, "internal error, please retry")
        case "internal_error":  # no documented code outside the search endpoints
            reply = _replies.error(1500, "internal error", status=500)
        case "token_expired":
            reply = _replies.error(99991663, INVALID_TOKEN_MSG)
        case "missing_scope":
            reply = missing_scope(app_id)
        case "quota":
            reply = _replies.error(99991403, "The number of API calls this month has exceeded the quota.")
        case "app_not_installed":
            reply = _replies.error(
                99991673, "App status unavailable: the app is disabled or not installed in this tenant."
            )
        case "error":
            reply = _replies.error(params["code"], params["msg"], status=params["http_status"])
        case _:
            raise ValueError(f"fault {fault.kind!r} does not replace the answer")
    reply.fault = fault.kind
    return reply


def missing_scope(app_id: str) -> Reply:
    """The platform's answer when the app lacks the data scope; the message names the scope."""
    link = f"https://open.feishu.cn/app/{app_id}/auth?q={SCOPE}&op_from=openapi&token_type=tenant"
    msg = (
        f"Access denied. One of the following scopes is required: [{SCOPE}]."
        f"应用尚未开通所需的应用身份权限：[{SCOPE}]，点击链接申请并开通任一权限即可：{link}"
    )
    violations = [{"type": "action_scope_required", "subject": SCOPE}]
    return _replies.error(99991672, msg, permission_violations=violations)
