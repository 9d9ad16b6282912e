"""The API paths and methods the double serves, and the endpoint selectors used by ``inject``, ``calls`` and
``count``."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_feishu_workplace.testing._messages import MESSAGES_PATH
from airflow_provider_feishu_workplace.testing._search import SearchSpec

#: Path of every auth API the double serves (all are ``POST``) -> its endpoint name.
AUTH_PATHS: dict[str, str] = {
    "/open-apis/auth/v3/tenant_access_token/internal": "tenant_access_token_internal",
    "/open-apis/auth/v3/app_access_token": "app_access_token",
    "/open-apis/auth/v3/tenant_access_token": "tenant_access_token",
    "/open-apis/auth/v3/app_ticket/resend": "app_ticket_resend",
}
#: The message API's endpoint name (``POST /open-apis/im/v1/messages``).
SEND_MESSAGE = "send_message"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

_PARAMETER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class AddedRoute:
    """A route a test added with :meth:`FeishuDouble.add_route`: one method on one path template."""

    name: str
    method: str
    template: str
    handler: Callable[..., Any]
    pattern: re.Pattern[str]

    @classmethod
    def build(cls, name: str, method: str, template: str, handler: Callable[..., Any]) -> AddedRoute:
        """Check the arguments and compile ``template`` (``{name}`` matches one path segment)."""
        if not isinstance(method, str) or method.upper() not in METHODS:
            raise ValueError(f"method={method!r} must be one of {list(METHODS)}")
        if not isinstance(template, str) or not template.startswith("/open-apis/") or "?" in template:
            raise ValueError(f"path={template!r} must start with /open-apis/ and hold no query")
        if not callable(handler):
            raise ValueError(f"handler={handler!r} must be callable: handler(request) -> data")
        parts = _PARAMETER.split(template)
        regex = "".join(re.escape(part) if index % 2 == 0 else f"(?P<{part}>[^/]+)" for index, part in enumerate(parts))
        return cls(name, method.upper(), template, handler, re.compile(regex))

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The path parameters when ``method`` and ``path`` reach this route, else ``None``."""
        found = self.pattern.fullmatch(path) if method == self.method else None
        return found.groupdict() if found else None


class Routes:
    """One double's routes: the auth APIs, the message API, its search endpoints (``specs``, a live mapping
    it owns) and the routes tests add (``added``, by name)."""

    def __init__(self, specs: Mapping[str, SearchSpec]) -> None:
        self.specs = specs
        self.added: dict[str, AddedRoute] = {}

    @property
    def search_endpoints(self) -> tuple[str, ...]:
        """The search endpoints' names, the three documented ones first."""
        return tuple(self.specs)

    def endpoint_for(self, method: str, path: str) -> str | None:
        """Name the endpoint a request reaches, or ``None`` when method and path match no API.

        As on the platform, a known path asked with another method matches nothing (a plain-text 404).
        """
        if method == "POST":
            if path in AUTH_PATHS:
                return AUTH_PATHS[path]
            if path == MESSAGES_PATH:
                return SEND_MESSAGE
            spec = next((spec for spec in self.specs.values() if spec.path == path), None)
            if spec is not None:
                return spec.name
        return next((route.name for route in self.added.values() if route.match(method, path) is not None), None)

    def add(self, route: AddedRoute) -> None:
        """Serve ``route``; a taken name, or a method and path another route answers, is an error."""
        if route.name in self.selectors():
            raise ValueError(f"endpoint name {route.name!r} is taken; pass another name=")
        sample = _PARAMETER.sub("x", route.template)
        if self.endpoint_for(route.method, sample) is not None or any(
            known.method == route.method and known.template == route.template for known in self.added.values()
        ):
            raise ValueError(f"{route.method} {route.template} is served already")
        self.added[route.name] = route

    def selectors(self) -> frozenset[str]:
        """Every selector ``inject``, ``calls`` and ``count`` accept."""
        names = frozenset(AUTH_PATHS.values()) | frozenset(self.specs) | frozenset(self.added) | {SEND_MESSAGE}
        return names | {"token", "search", "any"}

    def check_selector(self, selector: str) -> None:
        """Raise ``ValueError`` naming the valid choices when ``selector`` is unknown."""
        if selector not in self.selectors():
            raise ValueError(f"unknown endpoint selector {selector!r}; choose one of {sorted(self.selectors())}")

    def matches(self, selector: str, endpoint: str | None) -> bool:
        """Tell whether a request that reached ``endpoint`` is selected by ``selector``."""
        if selector == "any":
            return True
        if selector == "token":
            return endpoint in AUTH_PATHS.values()
        if selector == "search":
            return endpoint in self.specs
        return endpoint == selector
