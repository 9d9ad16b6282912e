"""The API paths the double serves and the endpoint selectors used by ``inject`` and ``count``."""

from __future__ import annotations

#: Path of every API the double serves (all are ``POST``) -> its endpoint name.
PATHS: dict[str, str] = {
    "/open-apis/auth/v3/tenant_access_token/internal": "tenant_access_token_internal",
    "/open-apis/auth/v3/app_access_token": "app_access_token",
    "/open-apis/auth/v3/tenant_access_token": "tenant_access_token",
    "/open-apis/auth/v3/app_ticket/resend": "app_ticket_resend",
    "/open-apis/workplace/v1/workplace_access_data/search": "workplace",
    "/open-apis/workplace/v1/custom_workplace_access_data/search": "custom_workplace",
    "/open-apis/workplace/v1/workplace_block_access_data/search": "block",
}

#: The three data endpoints, in the order the docs list them.
SEARCH_ENDPOINTS: tuple[str, ...] = ("workplace", "custom_workplace", "block")

#: Selectors that name a group of endpoints rather than one.
GROUPS: dict[str, frozenset[str]] = {
    "token": frozenset(name for path, name in PATHS.items() if path.startswith("/open-apis/auth/")),
    "search": frozenset(SEARCH_ENDPOINTS),
}

#: Every selector ``inject`` and ``count`` accept.
SELECTORS: frozenset[str] = frozenset(PATHS.values()) | frozenset(GROUPS) | {"any"}


def endpoint_for(method: str, path: str) -> str | None:
    """Name the endpoint a request reaches, or ``None`` when method and path match no API."""
    if method != "POST":
        return None
    return PATHS.get(path)


def check_selector(selector: str) -> None:
    """Raise ``ValueError`` naming the valid choices when ``selector`` is unknown."""
    if selector not in SELECTORS:
        raise ValueError(f"unknown endpoint selector {selector!r}; choose one of {sorted(SELECTORS)}")


def matches(selector: str, endpoint: str | None) -> bool:
    """Tell whether a request that reached ``endpoint`` is selected by ``selector``."""
    if selector == "any":
        return True
    group = GROUPS.get(selector)
    if group is not None:
        return endpoint in group
    return endpoint == selector
