"""Exceptions raised by the Feishu Workplace provider."""

from __future__ import annotations


class FeishuConfigError(ValueError):
    """A connection field or an argument is invalid; raised before any request is sent."""


class FeishuApiError(Exception):
    """The Feishu Open Platform answered with an error, or could not be reached.

    :param summary: what went wrong and what to do about it.
    :param code: the platform's error code, when the answer carried one.
    :param msg: the platform's own message, when the answer carried one.
    :param log_id: the request's log id (``error.log_id`` or ``X-Tt-Logid``): Feishu support asks for it.
    :param http_status: the HTTP status of the answer, or ``None`` when no answer arrived.
    :param retryable: whether sending the same request again may succeed.
    """

    def __init__(
        self,
        summary: str,
        *,
        code: int | None = None,
        msg: str | None = None,
        log_id: str | None = None,
        http_status: int | None = None,
        retryable: bool = False,
    ) -> None:
        self.summary = summary
        self.code = code
        self.msg = msg
        self.log_id = log_id
        self.http_status = http_status
        self.retryable = retryable
        super().__init__(self._describe())

    def annotate(self, note: str) -> None:
        """Append ``note`` to the summary (and so to the message)."""
        self.summary = f"{self.summary}; {note}"
        self.args = (self._describe(),)

    def _describe(self) -> str:
        details = []
        if self.code is not None:
            details.append(f"code {self.code}")
        if self.http_status is not None:
            details.append(f"HTTP {self.http_status}")
        if self.msg:
            details.append(f"msg {self.msg!r}")
        if self.log_id:
            details.append(f"log_id {self.log_id}")
        return f"{self.summary} ({', '.join(details)})" if details else self.summary


class FeishuCredentialsError(FeishuApiError):
    """The app id, app secret, app ticket or tenant key was rejected."""


class FeishuPermissionError(FeishuApiError):
    """The app lacks a scope, is not installed or enabled in the tenant, or the caller IP is not allowed."""


class FeishuQuotaError(FeishuApiError):
    """The app's monthly call quota is used up."""


class FeishuRateLimitError(FeishuApiError):
    """The platform's rate limiter rejected the request.

    :param retry_after: seconds the platform asked to wait (``x-ogw-ratelimit-reset``), if it said.
    """

    def __init__(self, summary: str, *, retry_after: float | None = None, **kwargs) -> None:
        self.retry_after = retry_after
        super().__init__(summary, retryable=True, **kwargs)


class FeishuTokenInvalidError(FeishuApiError):
    """The tenant access token was rejected (invalid, expired or malformed); a new token may succeed."""


SERVER_AT_FAULT = (
    "The server broke the API's contract, not the request: the pull stopped so that no wrong data is kept. "
    "Retry later; if it persists, report it to Feishu support."
)


class FeishuProtocolError(FeishuApiError):
    """The server's answers broke the API's contract (for example a page token that never ends)."""


class FeishuItemError(FeishuProtocolError):
    """An item lacked a field, had a wrong type or a negative count, or came twice with different values."""
