"""The transient faults of the bundled double, shared by the hook's and the operator's fault tests."""

from __future__ import annotations

import pytest

# Clients under test use a 0.5 s timeout, so the slow answer always arrives too late.
CLIENT_TIMEOUT = 0.5
TRANSIENT_FAULTS = [
    pytest.param("rate_limit", {}, id="429"),
    pytest.param("rate_limit_400", {}, id="400-99991400"),
    pytest.param("server_error", {"status": 503}, id="503"),
    pytest.param("gateway_html", {}, id="gateway-html"),
    pytest.param("internal_error", {}, id="internal-error-code"),
    pytest.param("connection_reset", {}, id="connection-reset"),
    pytest.param("slow", {"delay": 1.0}, id="slow-past-timeout"),
    pytest.param("truncated_json", {}, id="truncated-json"),
]
