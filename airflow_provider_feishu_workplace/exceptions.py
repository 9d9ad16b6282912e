"""Exceptions raised by the Feishu Workplace provider.

Every error is a :class:`FeishuError`. Each class answers, once for all its instances, whether running the
task again later can help (``rerun_can_help``); :func:`raise_for_task` turns that answer into Airflow's,
in one place for every task type (operators, the sensor, the trigger's events): ``AirflowFailException``
when it cannot (the task fails at once), else an exception Airflow's retries apply to.
Messages are bounded in size (MAX_MESSAGE_CHARS), whatever the server sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import ClassVar, NoReturn

# The longest exception message; longer ones (a huge msg or item from a server) are cut.
MAX_MESSAGE_CHARS = 2000
# The longest piece of server text (msg, log id) kept in a message.
MAX_SERVER_TEXT_CHARS = 300


def bounded(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Return ``text``, cut to ``limit`` characters with a note saying how much was cut."""
    if len(text) <= limit:
        return text
    note = f"... [{len(text) - limit} more characters cut]"
    return text[: max(0, limit - len(note))] + note


class FeishuError(Exception):
    """Base of every error of this provider.

    :cvar rerun_can_help: whether running the task again later may succeed (Airflow's retries are worth
        spending); ``False`` means a person has to fix something first.
    """

    rerun_can_help: ClassVar[bool] = False

    def __init__(self, message: str) -> None:
        super().__init__(bounded(str(message)))

    def scrub(self, secrets: Iterable[str | None]) -> None:
        """Replace every occurrence of ``secrets`` in the message with ``***`` (a server may echo them)."""
        found = [secret for secret in secrets if secret]
        if not found:
            return

        def clean(text):
            if isinstance(text, str):
                for secret in found:
                    text = text.replace(secret, "***")
            return text

        self._clean_fields(clean)
        self.args = tuple(clean(arg) for arg in self.args)

    def _clean_fields(self, clean: Callable[[str | None], str | None]) -> None:
        """Apply ``clean`` to the text attributes a subclass keeps besides the message."""


def raise_for_task(error: FeishuError | str, *, rerun_can_help: bool | None = None) -> NoReturn:
    """Raise what a task raises for ``error``: the provider's one failure policy, for every task type.

    When a rerun cannot help: ``AirflowFailException`` (the task fails at once, no retry is spent), chained
    to the error. When it can: the error itself, which Airflow's retries apply to like any exception but
    ``AirflowFailException`` (so a caller of ``execute`` still sees the provider's own class).

    :param error: a :class:`FeishuError`, whose class answers whether a rerun can help; or the message of
        one that crossed a process boundary (a trigger's event), raised as ``AirflowFailException`` or
        ``AirflowException`` by ``rerun_can_help``.
    :param rerun_can_help: only with a message: the answer the error's class gave.
    """
    from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

    if isinstance(error, FeishuError):
        if rerun_can_help is not None:
            raise TypeError("rerun_can_help is the error class's answer: pass it only with a message.")
        if not error.rerun_can_help:
            raise AirflowFailException(str(error)) from error
        raise error
    if rerun_can_help is None:
        raise TypeError("A message needs rerun_can_help, the answer of the error class it came from.")
    raise (AirflowException if rerun_can_help else AirflowFailException)(error)


class FeishuConfigError(FeishuError, ValueError):
    """A connection field or an argument is invalid; raised before any request is sent.

    Also a ``ValueError``, as it always was.
    """


class FeishuOutputError(FeishuError):
    """The output target cannot be written (the store is unreachable, the bucket missing, no permission).

    Checked before the first request to Feishu, so a pull is never thrown away at the end; a store that
    is down may be back for the next try.
    """

    rerun_can_help = True


class FeishuOutputBlockedError(FeishuOutputError):
    """An output file cannot be written until a person fixes something: a file or folder is in the way of the
    path, a bucket or folder is missing, permission is denied, or the items cannot be encoded in the format.

    A rerun alone meets the same obstacle, so the task fails at once.
    """

    rerun_can_help = False


class FeishuNoDataYetError(FeishuError):
    """A requested day got no item: Feishu publishes a day's data after the day ends, at an hour it does not
    document, so a later try may find it."""

    rerun_can_help = True


class FeishuApiError(FeishuError):
    """The Feishu Open Platform answered with an error, or could not be reached.

    :param summary: what went wrong and what to do about it.
    :param code: the platform's error code, when the answer carried one.
    :param msg: the platform's own message, when the answer carried one (cut to MAX_SERVER_TEXT_CHARS).
    :param log_id: the request's log id (``error.log_id`` or ``X-Tt-Logid``): Feishu support asks for it.
    :param http_status: the HTTP status of the answer, or ``None`` when no answer arrived.

    :cvar retryable: whether sending the same request again at once may succeed: the hook retries an error
        whose class says so, and no other (see :class:`FeishuTransientError`, :class:`FeishuRateLimitError`).
    """

    rerun_can_help = True
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        summary: str,
        *,
        code: int | None = None,
        msg: str | None = None,
        log_id: str | None = None,
        http_status: int | None = None,
    ) -> None:
        self.summary = summary
        self.code = code
        self.msg = bounded(msg, MAX_SERVER_TEXT_CHARS) if msg else msg
        self.log_id = bounded(log_id, 100) if log_id else log_id
        self.http_status = http_status
        super().__init__(self._describe())

    def annotate(self, note: str) -> None:
        """Append ``note`` to the summary (and so to the message)."""
        self.summary = f"{self.summary}; {note}"
        self.args = (bounded(self._describe()),)

    def _clean_fields(self, clean: Callable[[str | None], str | None]) -> None:
        self.summary, self.msg, self.log_id = clean(self.summary) or "", clean(self.msg), clean(self.log_id)

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
        # The summary is cut first, so that the code, status and log id always survive.
        tail = f" ({', '.join(details)})" if details else ""
        return bounded(self.summary, MAX_MESSAGE_CHARS - len(tail)) + tail


class FeishuCredentialsError(FeishuApiError):
    """The app id, app secret, app ticket or tenant key was rejected."""

    rerun_can_help = False


class FeishuPermissionError(FeishuApiError):
    """The app lacks a scope, is not installed or enabled in the tenant, or the caller IP is not allowed."""

    rerun_can_help = False


class FeishuQuotaError(FeishuApiError):
    """The app's monthly call quota is used up."""

    rerun_can_help = False


class FeishuNotFoundError(FeishuApiError):
    """The path answered a non-JSON 404: the connection's Base URL does not point at the Feishu API."""

    rerun_can_help = False


class FeishuTLSError(FeishuApiError):
    """The server's TLS certificate could not be verified."""

    rerun_can_help = False


class FeishuRedirectError(FeishuApiError):
    """The server answered with a redirect; it is never followed, so credentials go to one origin only.

    :param location: where the redirect pointed (origin and path only).
    """

    rerun_can_help = False

    def __init__(self, summary: str, *, location: str, **kwargs) -> None:
        self.location = location
        super().__init__(summary, **kwargs)


class FeishuTransientError(FeishuApiError):
    """A failure the same request may not meet again soon: a 5xx or an endpoint's "internal error, retry"
    code, a gateway's error page, a body cut short, a connection reset, a timeout."""

    retryable = True


class FeishuRateLimitError(FeishuApiError):
    """The platform's rate limiter rejected the request.

    :param retry_after: seconds the platform asked to wait (``x-ogw-ratelimit-reset``), if it said.
    """

    retryable = True

    def __init__(self, summary: str, *, retry_after: float | None = None, **kwargs) -> None:
        self.retry_after = retry_after
        super().__init__(summary, **kwargs)


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
