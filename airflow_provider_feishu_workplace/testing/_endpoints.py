"""The API paths the double serves and the endpoint selectors used by ``inject``, ``calls`` and ``count``."""

from __future__ import annotations

from collections.abc import Mapping

from airflow_provider_feishu_workplace.testing._search import SearchSpec

#: Path of every auth API the double serves (all are ``POST``) -> its endpoint name.
AUTH_PATHS: dict[str, str] = {
    "/open-apis/auth/v3/tenant_access_token/internal": "tenant_access_token_internal",
    "/open-apis/auth/v3/app_access_token": "app_access_token",
    "/open-apis/auth/v3/tenant_access_token": "tenant_access_token",
    "/open-apis/auth/v3/app_ticket/resend": "app_ticket_resend",
}


class Routes:
    """One double's routes: the auth APIs and its search endpoints (``specs``, a live mapping it owns)."""

    def __init__(self, specs: Mapping[str, SearchSpec]) -> None:
        self.specs = specs

    @property
    def search_endpoints(self) -> tuple[str, ...]:
        """The search endpoints' names, the three documented ones first."""
        return tuple(self.specs)

    def endpoint_for(self, method: str, path: str) -> str | None:
        """Name the endpoint a request reaches, or ``None`` when method and path match no API."""
        if method != "POST":
            return None
        name = AUTH_PATHS.get(path)
        return name or next((spec.name for spec in self.specs.values() if spec.path == path), None)

    def selectors(self) -> frozenset[str]:
        """Every selector ``inject``, ``calls`` and ``count`` accept."""
        return frozenset(AUTH_PATHS.values()) | frozenset(self.specs) | {"token", "search", "any"}

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
