"""The Feishu (Lark) Open Platform hook: tokens, pacing, retries, paging and a public call for any API."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, replace
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseHook

from airflow_provider_feishu_workplace import __version__
from airflow_provider_feishu_workplace._arguments import whole_number
from airflow_provider_feishu_workplace._compat import mask_secret
from airflow_provider_feishu_workplace._connection_fields import HOOK_NAME
from airflow_provider_feishu_workplace.exceptions import (
    FeishuApiError,
    FeishuConfigError,
    FeishuError,
    FeishuRateLimitError,
    FeishuTLSError,
    FeishuTokenInvalidError,
    FeishuTransientError,
)
from airflow_provider_feishu_workplace.hooks._app_settings import FeishuAppSettings
from airflow_provider_feishu_workplace.hooks._pacing import rate_limit_group as rate_limit_group_default
from airflow_provider_feishu_workplace.hooks._pacing import shared_pacer
from airflow_provider_feishu_workplace.hooks._paginator import MAX_PAGES, PageTokenPaginator
from airflow_provider_feishu_workplace.hooks._responses import (
    payload_or_error,
    read_capped_body,
    redirect_error,
    required_field,
    required_token,
)

if TYPE_CHECKING:
    import requests

SELF_BUILT_TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"
STORE_APP_TOKEN_PATH = "/open-apis/auth/v3/app_access_token"
STORE_TENANT_TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token"
STORE_TICKET_RESEND_PATH = "/open-apis/auth/v3/app_ticket/resend"
STALE_TICKET = 10012
APP_TOKEN_REJECTED = 10013

# The SDK drops a token 10 minutes before it expires; so do we.
TOKEN_SAFETY_MARGIN_SECONDS = 600
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class ApiRequest:
    """One request as the funnel sends it: every attempt (and every page, but for its token) sends the same.

    :param method: the HTTP method.
    :param path: the API path, starting with ``/open-apis/``.
    :param params: query-string parameters.
    :param json_body: the JSON body.
    :param retry_codes: the API's own "internal error, retry" codes, retried like a 5xx.
    :param scope: the scope the API needs, named when the app lacks it.
    :param rate_limit_group: the pacer to wait on; ``None``: :meth:`FeishuHook.rate_limit_group` of the request.
    """

    method: str
    path: str
    params: dict[str, Any] | None = None
    json_body: dict[str, Any] | None = None
    retry_codes: Collection[int] = ()
    scope: str | None = None
    rate_limit_group: str | None = None


class FeishuHook(BaseHook):
    """Call the Feishu (Lark) Open Platform as an app, with its tenant access token.

    Tokens for self-built and store apps, pacing, retries of transient failures, one deadline per
    request and paging are done here, for every request: :meth:`call` and :meth:`paginate` reach any
    Open Platform API (the app needs that API's scope). The hook knows no API in particular:
    :class:`FeishuWorkplaceHook` adds the workplace access-data methods on top of it.

    The connection holds the app: ``login`` is the app id, ``password`` the app secret, ``host`` the
    base URL (empty means ``https://open.feishu.cn``; ``https://open.larksuite.com`` for Lark) and the
    extras ``app_type`` (``self_built`` or ``store``), ``app_ticket_secret`` and ``tenant_key`` (store
    apps; a ticket saved under the earlier key ``app_ticket`` is read too).
    Nothing is read or sent until the first call.

    :param feishu_conn_id: the Airflow connection id.
    :param timeout: each request's overall deadline in seconds, from connecting to the last byte of the
        answer (a server that trickles its answer does not extend it).
    :param max_attempts: attempts per request, the first included, for transient failures.
    :param retry_deadline: seconds after which a request is no longer retried; with the last attempt's
        ``timeout``, a request and its retries (its token included) end within ``retry_deadline + timeout``.
    :param backoff_base: the first retry's wait in seconds; each further retry doubles it (with jitter).
    :param backoff_max: the longest wait between two attempts, unless the platform asks for longer.
    :param requests_per_second: the pace of each rate-limit group for every hook of this app in the process
        (the workplace search endpoints allow 20 a second; other APIs have their own limits); ``None`` turns
        pacing off. A group is what the caller names (``rate_limit_group=``), by default the API called:
        its method and path with the ids taken out (see :meth:`rate_limit_group`).
    :param shared_rate_limit: keep that pace across every process of the app, not just this one:
        ``redis://host:6379/0`` (workers on several machines) or ``file:///folder`` (one machine); the
        token requests are paced too. Default: the connection's extra ``shared_rate_limit``, else none.
        A URL holding a password is refused: Redis's password goes in the connection's extra
        ``shared_rate_limit_password``, which Airflow hides.
    :param max_pages: the most pages one query may take before the server is deemed to page forever;
        ``None``: 10,000 pages for :meth:`paginate` (a subclass may size its own queries' budget, as the
        workplace hook does from a query's days).
    :param tenant_key: store apps: the tenant to act for, instead of the connection's ``tenant_key`` extra
        (one connection per app, one hook per tenant: every hook of the app shares its app access token).
    :param ticket_wait: store apps: seconds to wait for the platform's push of a new app ticket, after
        asking for one because none was stored or Feishu refused it as stale (10012).
    """

    conn_name_attr = "feishu_conn_id"
    default_conn_name = "feishu_default"
    conn_type = "feishu"
    hook_name = HOOK_NAME  # "Feishu (Lark)": the UI's type search finds it by either name

    # The keyword arguments, kept as given once checked (see the class docstring and _OPTION_CHECKS).
    timeout: float
    max_attempts: int
    retry_deadline: float
    backoff_base: float
    backoff_max: float
    requests_per_second: float | None
    shared_rate_limit: str | None
    max_pages: int | None
    ticket_wait: float
    tenant_key: str | None

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Return the extras' fields for the Flask connection form (Airflow 2.11, and 3.0/3.1 with FAB).

        Airflow 3.2 and later read the same fields from provider info instead. The form libraries are
        imported here, not at module level: the hook module is imported at every DAG parse.
        """
        from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import PasswordField, StringField
        from wtforms.validators import AnyOf, Optional

        from airflow_provider_feishu_workplace._connection_fields import CONN_FIELDS

        widgets = {}
        for name, field in CONN_FIELDS.items():
            schema = field["schema"]
            secret = schema.get("format") == "password"
            field_class, widget = (
                (PasswordField, BS3PasswordFieldWidget) if secret else (StringField, BS3TextFieldWidget)
            )
            choices = schema.get("enum")
            widgets[name] = field_class(
                lazy_gettext(field["label"]),
                widget=widget(),
                description=field["description"],
                default=schema.get("default"),
                validators=[Optional(), *([AnyOf(choices)] if choices else [])],
            )
        return widgets

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Return which standard fields the Flask connection form hides, relabels and fills with hints."""
        from airflow_provider_feishu_workplace._connection_fields import UI_FIELD_BEHAVIOUR

        return {
            "hidden_fields": list(UI_FIELD_BEHAVIOUR["hidden-fields"]),
            "relabeling": dict(UI_FIELD_BEHAVIOUR["relabeling"]),
            "placeholders": dict(UI_FIELD_BEHAVIOUR["placeholders"]),
        }

    def __init__(
        self,
        feishu_conn_id: str = default_conn_name,
        *,
        timeout: float = 30.0,
        max_attempts: int = 6,
        retry_deadline: float = 120.0,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        requests_per_second: float | None = 20.0,
        shared_rate_limit: str | None = None,
        max_pages: int | None = None,
        ticket_wait: float = 60.0,
        tenant_key: str | None = None,
    ) -> None:
        arguments = locals()
        super().__init__()
        self.feishu_conn_id = feishu_conn_id
        # Each keyword argument is checked by its rule and kept as the attribute of the same name.
        for name, check in _OPTION_CHECKS.items():
            setattr(self, name, check(name, arguments[name]))
        self._token: str | None = None
        self._app_ticket_sent: str | None = None  # a store app's ticket, kept out of error messages
        self._token_refresh_at = 0.0
        self._token_lock = threading.Lock()

    @cached_property
    def settings(self) -> FeishuAppSettings:
        """The connection's checked fields (read once, on first use)."""
        settings = FeishuAppSettings.from_connection(
            self.get_connection(self.feishu_conn_id), tenant_key=self.tenant_key
        )
        for secret in (settings.app_ticket, settings.shared_rate_limit_password):
            if secret:
                mask_secret(secret)  # Airflow masks the connection's password, not these extras
        return settings

    @cached_property
    def session(self) -> requests.Session:
        """The pooled HTTP session every request of this hook goes through."""
        import requests  # imported here: DAG files import this module at every parse

        from airflow_provider_feishu_workplace.hooks._deadline import DeadlineAdapter

        session = requests.Session()
        session.headers["User-Agent"] = f"airflow-provider-feishu-workplace/{__version__}"
        for prefix in ("https://", "http://"):
            session.mount(prefix, DeadlineAdapter())
        return session

    def close(self) -> None:
        """Close the pooled HTTP connections (the hook opens new ones if used again)."""
        session = self.__dict__.pop("session", None)
        if session is not None:
            session.close()

    # Tokens

    def get_tenant_access_token(self) -> str:
        """Return a tenant access token, fetching a new one when the cached one nears expiry."""
        return self._tenant_access_token(started=None)

    def _tenant_access_token(self, started: float | None) -> str:
        with self._token_lock:
            if self._token is None or time.monotonic() >= self._token_refresh_at:
                token, expires_in = self._fetch_tenant_access_token(started)
                mask_secret(token)
                margin = min(TOKEN_SAFETY_MARGIN_SECONDS, expires_in / 2)
                self._token = token
                self._token_refresh_at = time.monotonic() + expires_in - margin
            return self._token

    def _drop_token(self, rejected: str | None = None) -> None:
        with self._token_lock:
            if rejected is None or self._token == rejected:
                self._token = None

    def _fetch_tenant_access_token(self, started: float | None) -> tuple[str, float]:
        """Ask for a tenant token; ``started``: when the request that needs it started (its retry clock)."""
        settings = self.settings
        if settings.app_type == "store":
            answer = self._store_tenant_token(started)
            where = STORE_TENANT_TOKEN_PATH
        else:
            answer = self._request(
                ApiRequest("POST", SELF_BUILT_TOKEN_PATH, json_body=settings.credentials()),
                authenticated=False,
                started=started,
            )
            where = SELF_BUILT_TOKEN_PATH
        token = required_token(answer, "tenant_access_token", where)
        expires_in = required_field(answer, "expire", int, where)
        return token, float(expires_in)

    def _store_tenant_token(self, started: float | None) -> dict[str, Any]:
        """The tenant token answer of a store app, from the app token every tenant of the app shares."""
        from airflow_provider_feishu_workplace.store_apps.app_tokens import app_tokens

        settings = self.settings
        for renewed in (False, True):
            app_token = self._store_app_token(started)
            try:
                body = {"app_access_token": app_token, "tenant_key": settings.tenant_key}
                return self._request(
                    ApiRequest("POST", STORE_TENANT_TOKEN_PATH, json_body=body),
                    authenticated=False,
                    started=started,
                    secrets=(app_token,),
                )
            except FeishuApiError as error:
                if error.code != APP_TOKEN_REJECTED or renewed:
                    raise
                app_tokens.drop(settings.base_url, settings.app_id, app_token)  # expired early: ask for another
        raise AssertionError("unreachable")

    def _store_app_token(self, started: float | None) -> str:
        """The store app's app access token: cached per app, else from the newest ticket (recovered if stale)."""
        from airflow_provider_feishu_workplace.store_apps.app_tokens import app_tokens
        from airflow_provider_feishu_workplace.store_apps.ticket_recovery import recover_ticket
        from airflow_provider_feishu_workplace.store_apps.tickets import latest_ticket

        settings = self.settings
        cached = app_tokens.get(settings.base_url, settings.app_id)
        if cached is not None:
            return cached
        stored = latest_ticket(settings.app_id)
        # The pushed ticket wins: a static one (from a secrets backend) is for deployments without the receiver.
        ticket = stored.ticket if stored is not None else settings.app_ticket

        def resend() -> None:
            self._request(
                ApiRequest("POST", STORE_TICKET_RESEND_PATH, json_body=settings.credentials()),
                authenticated=False,
                started=started,
            )

        def recover(stale: str | None, reason: str) -> str:
            self.log.warning("Store app %s: %s; asking Feishu to push a new app_ticket", settings.app_id, reason)
            fresh = recover_ticket(
                settings.app_id,
                stale=stale,
                reason=reason,
                resend=resend,
                conn_id=self.feishu_conn_id,
                wait=self.ticket_wait,
            )
            mask_secret(fresh)
            return fresh

        if ticket is None:
            ticket = recover(None, "no app_ticket pushed to the receiver yet")
        for recovered in (False, True):
            self._app_ticket_sent = ticket
            try:
                answer = self._request(
                    ApiRequest(
                        "POST", STORE_APP_TOKEN_PATH, json_body={**settings.credentials(), "app_ticket": ticket}
                    ),
                    authenticated=False,
                    started=started,
                )
                break
            except FeishuApiError as error:
                if error.code != STALE_TICKET or recovered:
                    raise
                ticket = recover(ticket, "Feishu refused the app_ticket as stale (code 10012)")
        app_token = required_token(answer, "app_access_token", STORE_APP_TOKEN_PATH)
        mask_secret(app_token)
        app_tokens.put(settings.base_url, settings.app_id, app_token, float(answer.get("expire") or 0))
        return app_token

    def test_connection(self) -> tuple[bool, str]:
        """Ask for a fresh tenant access token; return whether it worked and a message without secrets."""
        try:
            self._drop_token()
            self.get_tenant_access_token()
        except FeishuError as error:
            return False, str(error)
        settings = self.settings
        return True, f"Feishu issued a tenant access token to app {settings.app_id} at {settings.base_url}."

    # Any Open Platform API

    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        retry: bool = True,
        rate_limit_group: str | None = None,
    ) -> Any:
        """Call one Open Platform API with the tenant access token and return the answer's ``data``.

        The request goes through the same path as the workplace methods: pacing per rate-limit group, a
        deadline, one token renewal, retries of transient failures, no redirects, typed errors
        (:class:`~airflow_provider_feishu_workplace.exceptions.FeishuApiError` with ``code``, ``msg``,
        ``log_id``). For example ``hook.call("GET", "/open-apis/contact/v3/users/ou_123",
        params={"user_id_type": "open_id"})["user"]``, or ``hook.call("POST", "/open-apis/im/v1/messages",
        params={"receive_id_type": "chat_id"}, json={...})``. An answer that is not JSON is an error.

        :param method: ``GET``, ``POST``, ``PUT``, ``PATCH`` or ``DELETE``.
        :param path: the API path, starting with ``/open-apis/`` (query parameters go in ``params``).
        :param params: query-string parameters.
        :param json: the JSON body.
        :param retry: retry transient failures (5xx, timeouts, resets). Pass ``False`` for a write that
            must not happen twice; rate limits and a rejected token are retried either way (the platform
            did not act on those requests).
        :param rate_limit_group: the pacer this request waits on; ``None``: the API's own group, see
            :meth:`rate_limit_group`. Requests to APIs that share one platform limit may name one group.
        :return: the answer's ``data`` (``None`` when it has none).
        """
        method = self._checked_call(method, path, params, json)
        self.settings  # noqa: B018 - read the connection now, so a bad one fails here
        request = ApiRequest(method, path, params=params, json_body=json, rate_limit_group=rate_limit_group)
        return self._request(request, retry=retry).get("data")

    @staticmethod
    def rate_limit_group(method: str, path: str) -> str:
        """Name the rate-limit group a request joins when its caller names none: the API it calls.

        The method and the path with every segment that is not a path word (``v3``, ``users``,
        ``find_by_department``: lower-case letters and ``_``, or a version) replaced by ``:id``:
        ``("GET", "/open-apis/contact/v3/users/ou_1")`` and ``.../users/ou_2`` both give
        ``"GET /open-apis/contact/v3/users/:id"``, so they share one pacer.
        """
        return rate_limit_group_default(method, path)

    def paginate(
        self,
        path: str,
        *,
        method: str = "GET",
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        items_key: str = "items",
        page_size: int | None = None,
        rate_limit_group: str | None = None,
    ) -> Iterator[Any]:
        """Yield the items of a paged Open Platform API, one page in memory at a time.

        Follows the platform's paging contract (``page_size`` and ``page_token`` in the query string;
        ``has_more``, ``page_token`` and the items in ``data``), refusing answers that break it: a
        missing ``has_more``, a repeated token, or more pages than ``max_pages`` (default 10,000) raise
        :class:`~airflow_provider_feishu_workplace.exceptions.FeishuProtocolError` instead of looping.
        It assumes nothing about the parameters: they are sent as given with every page.
        For example ``hook.paginate("/open-apis/contact/v3/users/find_by_department",
        params={"department_id": "0"}, page_size=50)``. Arguments are checked before any request.

        :param path: the API path, starting with ``/open-apis/``.
        :param method: ``GET`` (most list APIs) or ``POST`` (search APIs).
        :param params: query-string parameters besides ``page_size`` and ``page_token``.
        :param json: the JSON body, sent with every page.
        :param items_key: the field of ``data`` that holds the items (``items`` on most APIs).
        :param page_size: items per page (each API has its own limit); ``None``: the API's default.
        :param rate_limit_group: as in :meth:`call`.
        """
        method = self._checked_call(method, path, params, json)
        query = {name: str(value) for name, value in (params or {}).items()}
        if whole_number("page_size", page_size, allow_none=True) is not None:
            query["page_size"] = str(page_size)
        if "page_token" in query:
            raise FeishuConfigError("params holds page_token: paginate() follows the tokens itself; leave it out.")
        if not isinstance(items_key, str) or not items_key:
            raise FeishuConfigError(f"items_key={items_key!r} must be the name of the field holding the items.")
        self.settings  # noqa: B018 - read the connection now, so a bad one fails before iteration starts
        # Some list APIs repeat a token on their last page: for them has_more=false alone ends the list.
        paginator = PageTokenPaginator(
            path,
            max_pages=self.max_pages or MAX_PAGES,
            page_size=page_size,
            items_key=items_key,
            last_page_may_carry_token=True,
        )
        request = ApiRequest(method, path, params=query, json_body=json, rate_limit_group=rate_limit_group)
        return self._follow_pages(request, paginator)

    def _follow_pages(self, request: ApiRequest, paginator: PageTokenPaginator) -> Iterator[Any]:
        """Yield the items of every page ``paginator`` follows; ``request.params`` is the first page's query."""
        query = request.params or {}
        while paginator.has_next_page:
            answer = self._request(replace(request, params=paginator.update_request(query)))
            yield from paginator.update_state(answer)

    @staticmethod
    def _checked_call(method: Any, path: Any, params: Any, json_body: Any) -> str:
        verb = method.upper() if isinstance(method, str) else method
        if verb not in METHODS:
            raise FeishuConfigError(f"method={method!r} is not one of {list(METHODS)}.")
        if not isinstance(path, str) or not path.startswith("/open-apis/") or "?" in path or "#" in path:
            raise FeishuConfigError(
                f"path={path!r} must be an API path starting with /open-apis/, without a query (use params=); "
                "requests go to the connection's Base URL only."
            )
        if params is not None and not isinstance(params, dict):
            raise FeishuConfigError(f"params={params!r} must be a dict of query-string parameters.")
        if json_body is not None and not isinstance(json_body, dict):
            raise FeishuConfigError(f"json must be a dict (a JSON object), not {type(json_body).__name__}.")
        return verb

    # The one request funnel

    def _request(
        self,
        request: ApiRequest,
        *,
        authenticated: bool = True,
        started: float | None = None,
        secrets: tuple[str, ...] = (),
        retry: bool = True,
    ) -> dict[str, Any]:
        """Send one request with pacing, retries of transient failures and one token renewal.

        :param authenticated: send the tenant access token (fetched first if needed).
        :param started: when the retry clock started (a token request counts on its caller's clock).
        :param secrets: more values, besides the app's, that must not appear in an error message.
        :param retry: retry transient failures; rate limits and a rejected token are retried regardless.
        """
        if request.rate_limit_group is None:
            request = replace(request, rate_limit_group=rate_limit_group_default(request.method, request.path))
        started = time.monotonic() if started is None else started
        token_renewed = False
        attempt = 0
        while True:
            attempt += 1
            # Outside the try: a token request has had its own retries, and must not be retried again here.
            token = self._tenant_access_token(started) if authenticated else None
            try:
                return self._send_once(request, token)
            except FeishuError as error:
                error.scrub(self._secrets(token, *secrets))  # a server may echo what it was sent
                renewable = isinstance(error, FeishuTokenInvalidError) and authenticated and not token_renewed
                # A renewal costs a token request and a resend: only while the token request fits the budget,
                # so the resend still ends within retry_deadline + timeout.
                if renewable and time.monotonic() - started + self.timeout <= self.retry_deadline:
                    token_renewed = True
                    self.log.info("Feishu rejected the tenant access token on %s; fetching a new one", request.path)
                    self._drop_token(rejected=token)  # another thread may have renewed it already
                    attempt -= 1  # a renewed token is a fresh start, not a failed attempt
                    continue
                if not isinstance(error, FeishuApiError) or not error.retryable:
                    raise
                if not retry and not isinstance(error, FeishuRateLimitError):
                    raise
                elapsed = time.monotonic() - started
                delay = self._retry_delay(attempt, error)
                if attempt >= self.max_attempts or elapsed + delay > self.retry_deadline:
                    error.annotate(f"gave up after {attempt} attempts in {elapsed:.1f}s")
                    raise
                self.log.warning("%s; attempt %d of %d, retrying in %.2fs", error, attempt, self.max_attempts, delay)
                time.sleep(delay)

    def _secrets(self, *more: str | None) -> tuple[str | None, ...]:
        settings = self.__dict__.get("settings")
        app = (settings.app_secret, settings.app_ticket) if settings is not None else ()
        return (*app, self._app_ticket_sent, self._token, *more)

    def _send_once(self, request: ApiRequest, token: str | None) -> dict[str, Any]:
        import requests

        from airflow_provider_feishu_workplace.hooks._deadline import RequestDeadline

        settings = self.settings
        path = request.path
        url = settings.base_url + path
        headers = {}
        shared_url = self.shared_rate_limit or settings.shared_rate_limit
        # Token requests are paced only across processes: within one, each hook asks once per token.
        if self.requests_per_second and (token is not None or shared_url):
            key = (settings.base_url, settings.app_id, request.rate_limit_group)
            shared_pacer(key, self.requests_per_second, shared_url, settings.shared_rate_limit_password).wait()
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        deadline = RequestDeadline(self.timeout)
        try:
            with deadline:
                # Streamed, so that an answer far larger than any page is refused instead of read into memory.
                # Redirects are never followed: the secret and the token go to the configured origin only.
                response = self.session.request(
                    request.method,
                    url,
                    params=request.params,
                    json=request.json_body,
                    headers=headers,
                    timeout=self.timeout,
                    stream=True,
                    allow_redirects=False,
                )
                with response:
                    if response.is_redirect or 300 <= response.status_code < 400:
                        raise redirect_error(response, url, path)
                    body = read_capped_body(response, path)
        except requests.exceptions.SSLError as error:
            if deadline.expired:
                raise self._too_slow(path) from None
            if "CERTIFICATE_VERIFY_FAILED" in str(error):
                raise FeishuTLSError(
                    f"TLS verification failed for {settings.base_url}: {error}. Fix the server's certificate, or "
                    "the trusted CA bundle (REQUESTS_CA_BUNDLE); verification cannot be turned off."
                ) from error
            # Other TLS failures (a handshake cut short by a flaky gateway) are worth another attempt.
            raise FeishuTransientError(f"{path}: the TLS handshake failed ({error})") from error
        except requests.RequestException as error:
            if deadline.expired or _timed_out(error):
                raise self._too_slow(path) from None
            raise FeishuTransientError(f"{path} failed before an answer arrived ({type(error).__name__})") from error
        except FeishuError:
            if deadline.expired:
                raise self._too_slow(path) from None
            raise
        if deadline.expired:  # cut off at the end of the body: what arrived may be short
            raise self._too_slow(path)
        return payload_or_error(
            response.status_code,
            response.headers,
            body,
            where=path,
            retry_codes=request.retry_codes,
            scope=request.scope,
        )

    def _too_slow(self, path: str) -> FeishuTransientError:
        return FeishuTransientError(
            f"{path} did not complete within its deadline of {self.timeout}s (hook argument timeout)"
        )

    def _retry_delay(self, attempt: int, error: FeishuApiError) -> float:
        backoff = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        delay = random.uniform(backoff / 2, backoff)
        if isinstance(error, FeishuRateLimitError) and error.retry_after:
            delay = max(delay, error.retry_after + random.uniform(0, self.backoff_base))
        return delay


def _positive(name: str, value: Any, *, allow_zero: bool = False) -> Any:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and (value > 0 or (allow_zero and value == 0))
    if not ok:
        raise FeishuConfigError(f"{name}={value!r} must be a {'non-negative' if allow_zero else 'positive'} number.")
    return value


def _shared_rate_limit_url(name: str, value: Any) -> Any:
    if value is not None:
        from airflow_provider_feishu_workplace.hooks._shared_limit import check_url

        check_url(value)
    return value


#: How each keyword argument of FeishuHook (but the connection id) is checked, in the order they are checked.
_OPTION_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "timeout": _positive,
    "retry_deadline": _positive,
    "backoff_max": _positive,
    "ticket_wait": _positive,
    "backoff_base": partial(_positive, allow_zero=True),
    "requests_per_second": lambda name, value: value if value is None else _positive(name, value),
    "max_attempts": whole_number,
    "max_pages": partial(whole_number, allow_none=True),
    "shared_rate_limit": _shared_rate_limit_url,
    "tenant_key": lambda name, value: value,  # checked with the connection (a store app's tenant)
}


def _timed_out(error: requests.RequestException) -> bool:
    """Whether the request ran out of time. requests before 2.32.3 reports a read timeout while a streamed body
    is read as a ConnectionError that wraps urllib3's ReadTimeoutError."""
    import requests
    from urllib3.exceptions import ReadTimeoutError

    if isinstance(error, requests.Timeout):
        return True
    return any(isinstance(cause, ReadTimeoutError | TimeoutError) for cause in (*error.args[:1], error.__context__))
