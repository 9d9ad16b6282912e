"""``FeishuDouble``: the fake Feishu Open Platform that tests, the demo and DAG authors run."""

from __future__ import annotations

import collections
import dataclasses
import datetime
import json
import operator
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from airflow_provider_feishu_workplace.testing import _auth, _connection, _faults, _replies, _routes
from airflow_provider_feishu_workplace.testing._data import DEFAULT_TIMEZONE, Dataset
from airflow_provider_feishu_workplace.testing._http_server import DoubleServer
from airflow_provider_feishu_workplace.testing._messages import Messenger
from airflow_provider_feishu_workplace.testing._platform import Incoming, Platform
from airflow_provider_feishu_workplace.testing._ratelimit import RateLimiter
from airflow_provider_feishu_workplace.testing._replies import Reply
from airflow_provider_feishu_workplace.testing._route_handlers import RouteRequest
from airflow_provider_feishu_workplace.testing._search import SPECS, SearchSpec, parse_date
from airflow_provider_feishu_workplace.testing._tokens import TokenIssuer


@dataclass(frozen=True)
class RecordedRequest:
    """One request the double received, and how it answered.

    :param method: HTTP method.
    :param path: path without the query string.
    :param endpoint: endpoint name (``"workplace"``, ``"tenant_access_token_internal"``, ...), or
        ``None`` when method and path match no API (answered 404).
    :param query: query-string parameters.
    :param body: the JSON body as a dict, or ``None`` when there was none or it was not a JSON object.
    :param headers: request headers, names lower-cased.
    :param status: HTTP status answered, or ``None`` when the connection was reset.
    :param code: ``code`` of the JSON answer, or ``None`` for non-JSON and truncated answers.
    :param fault: the injected fault kind applied, or ``None``.
    :param log_id: the ``X-Tt-Logid`` sent back (also ``error.log_id`` in error answers).
    :param received_at: when the request arrived, on the ``time.monotonic()`` clock.

    The record holds what the client sent, secrets included (the app secret in token request bodies,
    the token in the ``authorization`` header), so tests can check where each one went.
    """

    method: str
    path: str
    endpoint: str | None
    query: dict[str, str]
    body: dict[str, Any] | None
    headers: dict[str, str]
    status: int | None
    code: int | None
    fault: str | None
    log_id: str | None = None
    received_at: float = 0.0


def _held_by(path: str, doc: str) -> Any:
    """A read-only attribute of the double that one of its parts holds, e.g. ``"_messenger.sent"``."""
    return property(operator.attrgetter(path), doc=doc)


def _credential(name: str, doc: str) -> Any:
    """A read-only attribute that reads the double's :class:`Credentials` field ``name``."""
    return _held_by(f"credentials.{name}", doc)


class FeishuDouble:
    """A fake Feishu Open Platform on a loopback HTTP port: tokens, the three workplace
    access-data search endpoints, the message API (``POST /open-apis/im/v1/messages``), routes a test
    adds (:meth:`add_route`), rate limits and injectable faults.

    :param host: interface to bind; loopback by default.
    :param port: port to bind; 0 picks a free one (read :attr:`url`).
    :param rate_limit_per_second: requests per second allowed per app and endpoint path (a token
        bucket of that capacity); more answer HTTP 429 / 99991400. ``None`` disables the limit.
    :param rate_limit_reset_seconds: ``x-ogw-ratelimit-reset`` sent with the limiter's 429s.
    :param token_lifetime: seconds a new access token lives.
    :param token_reuse_window: a token with this many seconds left or fewer is not handed out again.
    :param custom_workplaces: number of custom workplaces with data each day.
    :param blocks_per_day: number of blocks with data each day.
    :param available_until: last date with data (later dates answer no items), ``None`` for no limit.
        Whatever it says, a day that has not ended yet in ``timezone`` answers no items, as the platform does.
    :param timezone: the IANA time zone of the tenant's calendar (``Asia/Shanghai``, UTC+8, by default).
    :param chat_ids: the chats the app's bot is in: messages to other chats answer 230002.
    :param app_id: the self-built app's id; the other credential parameters likewise.
    :param max_recorded_requests: keep only the latest this many requests in :attr:`requests` (a long-running
        server's log stays bounded; :meth:`request_counts` still counts every request); ``None``: keep all.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit_per_second: float | None = 20,
        rate_limit_reset_seconds: float = 1,
        token_lifetime: float = 7200,
        token_reuse_window: float = 1800,
        custom_workplaces: int = 3,
        blocks_per_day: int = 5,
        available_until: datetime.date | None = None,
        app_id: str = "cli_double_selfbuilt",
        app_secret: str = "double-selfbuilt-secret-0123456789",
        store_app_id: str = "cli_double_store",
        store_app_secret: str = "double-store-secret-0123456789",
        app_ticket: str = "double-app-ticket-0123456789",
        tenant_key: str = "double_tenant_key",
        max_recorded_requests: int | None = None,
        chat_ids: Iterable[str] = ("oc_double_alerts",),
        timezone: str = DEFAULT_TIMEZONE,
    ) -> None:
        self.host = host
        self.port = port
        self.credentials = _auth.Credentials(app_id, app_secret, store_app_id, store_app_secret, app_ticket, tenant_key)
        self._issuer = TokenIssuer(token_lifetime, token_reuse_window)
        self._specs: dict[str, SearchSpec] = dict(SPECS)  # this double's search endpoints
        self._routes = _routes.Routes(self._specs)
        self._faults = _faults.FaultQueue(self._routes)
        self._dataset = Dataset(
            custom_workplaces=custom_workplaces,
            blocks_per_day=blocks_per_day,
            available_until=available_until,
            timezone=timezone,
        )
        self._stopping = threading.Event()
        self._messenger = Messenger(chat_ids)
        self._platform = Platform(
            credentials=self.credentials,
            issuer=self._issuer,
            limiter=RateLimiter(rate_limit_per_second),
            faults=self._faults,
            dataset=self._dataset,
            rate_limit_reset_seconds=rate_limit_reset_seconds,
            routes=self._routes,
            messenger=self._messenger,
        )
        bound = max_recorded_requests
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int) or bound < 1):
            raise ValueError(f"max_recorded_requests={max_recorded_requests!r} must be a whole number >= 1, or None")
        self._requests: collections.deque[RecordedRequest] = collections.deque(maxlen=max_recorded_requests)
        # (endpoint, HTTP status or None for a reset) -> requests answered so, however many the log keeps.
        self._request_counts: collections.Counter[tuple[str | None, int | None]] = collections.Counter()
        self._requests_lock = threading.Lock()
        self._server: DoubleServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> FeishuDouble:
        """Bind the port and serve in a background thread; returns the double."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = DoubleServer((self.host, self.port), self._respond)
        self._thread = threading.Thread(
            target=self._server.serve, name=f"feishu-double-{self._server.server_port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket and every open connection; safe to repeat."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._server = self._thread = None
        self._stopping.set()
        server.stop_serving()
        thread.join(timeout=5)
        server.server_close()
        server.close_connections()

    def __enter__(self) -> FeishuDouble:
        return self.start()

    def __repr__(self) -> str:
        where = self.url if self._server is not None else "not running"
        return f"<FeishuDouble {where}, {len(self.requests)} requests>"

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL of the running double, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
        if self._server is None:
            raise RuntimeError("the Feishu double is not running: call start() first")
        host, port = self._server.server_address[:2]
        host = host if isinstance(host, str) else host.decode()  # bytes for AF_UNIX only
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    # -- credentials -----------------------------------------------------------------------

    app_id = _credential("app_id", "The self-built app's id.")
    app_secret = _credential("app_secret", "The self-built app's secret.")
    store_app_id = _credential("store_app_id", "The store (ISV) app's id.")
    store_app_secret = _credential("store_app_secret", "The store (ISV) app's secret.")
    app_ticket = _credential("app_ticket", "The app_ticket the platform pushed to the store app.")
    tenant_key = _credential("tenant_key", "The tenant the store app is installed in.")

    def set_tenant(self, tenant_key: str, *, enabled: bool = True) -> None:
        """Install the store app in one more tenant (``enabled``), or stop it there, as its admin does.

        A stopped tenant's ``tenant_access_token`` requests are refused (code 99991673). Pushing
        ``app_open`` or ``app_status_change`` through the control API does this too, with the event.
        """
        if not isinstance(tenant_key, str) or not tenant_key:
            raise ValueError(f"tenant_key={tenant_key!r}: give the tenant's key.")
        self._issuer.set_tenant(tenant_key, enabled)

    # -- data ------------------------------------------------------------------------------

    @property
    def unavailable_dates(self) -> set[datetime.date]:
        """Dates without data (a live, mutable set: add dates to it)."""
        return self._dataset.unavailable_dates

    @unavailable_dates.setter
    def unavailable_dates(self, dates: Iterable[datetime.date]) -> None:
        self._dataset.unavailable_dates = set(dates)

    @property
    def available_until(self) -> datetime.date | None:
        """Last date with data; later dates answer no items. ``None``: every date has data."""
        return self._dataset.available_until

    @available_until.setter
    def available_until(self, day: datetime.date | None) -> None:
        self._dataset.available_until = day

    custom_workplace_ids = _held_by(
        "_dataset.custom_workplace_ids", "Ids of the custom workplaces that have data, sorted (``list[str]``)."
    )
    block_ids = _held_by("_dataset.block_ids", "Ids of the blocks that have data, sorted (``list[str]``).")

    def expected_items(
        self,
        endpoint: str,
        from_date: datetime.date | str,
        to_date: datetime.date | str,
        **filters: str,
    ) -> list[dict[str, Any]]:
        """Every item the API pages through for a query, in order.

        :param endpoint: ``"workplace"``, ``"custom_workplace"`` or ``"block"``.
        :param from_date: first date, a ``datetime.date`` or ``"YYYY-MM-DD"``.
        :param to_date: last date, likewise.
        :param filters: ``custom_workplace_id=`` (custom_workplace) or ``block_id=`` (block).
        """
        if endpoint not in self._specs:
            raise ValueError(f"endpoint must be one of {sorted(self._specs)}, not {endpoint!r}")
        allowed = {name for name in [self._specs[endpoint].filter_param] if name is not None}
        if set(filters) - allowed:
            raise ValueError(f"{endpoint!r} filters on {sorted(allowed)}, not {sorted(set(filters) - allowed)}")
        first, last = _as_date(from_date), _as_date(to_date)
        filter_id = next(iter(filters.values()), None)
        count = self._dataset.count(endpoint, first, last, filter_id)
        return self._dataset.page(endpoint, first, last, 0, count, filter_id)

    def set_items(self, dataset: str, day: datetime.date | str, items: Iterable[Mapping[str, Any]]) -> None:
        """Serve exactly ``items`` for ``dataset`` on ``day``, in this order, instead of generated ones.

        The items are sent as given (copies), so they may be anything JSON can carry; an id filter
        (``block_id=``, ``custom_workplace_id=``) keeps the items whose id field matches. ``[]``
        makes a day without items for that data set. :meth:`expected_items` and paging take them
        into account; :meth:`reset` forgets them.

        :param dataset: ``"workplace"``, ``"custom_workplace"`` or ``"block"``.
        :param day: a ``datetime.date`` or ``"YYYY-MM-DD"``.
        :param items: the items, each a dict such as ``{"date": "2024-01-01", "block_id": "blk_1",
            "access_data": {"pv": 10, "uv": 3}}``.
        """
        if dataset not in self._specs:
            raise ValueError(f"dataset must be one of {sorted(self._specs)}, not {dataset!r}")
        self._dataset.set_items(dataset, _as_date(day), items)

    def publish_at(self, day: datetime.date | str, seconds_from_now: float | None) -> None:
        """Publish ``day``'s data ``seconds_from_now`` seconds from now; until then every data set has no item
        for it, as when Feishu has not published the day yet.

        ``publish_at(day, 30)`` makes a sensor (or a pull) see the day 30 s later; ``None`` holds the day back
        until ``publish_at`` is called again (``publish_at(day, 0)`` publishes it at once). Publication wins
        over :meth:`set_items`; :meth:`reset` publishes every day.

        :param day: a ``datetime.date`` or ``"YYYY-MM-DD"``.
        :param seconds_from_now: seconds until the day appears (``>= 0``), or ``None`` to hold it back.
        """
        self._dataset.publish_at(_as_date(day), seconds_from_now)

    def is_published(self, day: datetime.date | str) -> bool:
        """Whether ``day`` is published now (not held back by :meth:`publish_at`)."""
        return _as_date(day) not in self._dataset.held_days()

    # -- endpoints -------------------------------------------------------------------------

    @property
    def search_endpoints(self) -> dict[str, SearchSpec]:
        """This double's search endpoints by name, as it describes them (the three documented ones, then
        any added with :meth:`add_endpoint`)."""
        return dict(self._specs)

    def add_endpoint(
        self,
        name: str,
        *,
        path: str,
        id_field: str | None,
        ids: Iterable[str] = (),
        counts: tuple[str, ...] = ("access_data",),
        max_page_size: int = 200,
        bad_date: int,
        bad_range: int,
        internal_error: int,
        bad_page_token: int,
        bad_page_size: int | None = None,
    ) -> SearchSpec:
        """Serve one more access-data search endpoint, like the three real ones: same token, rate-limit,
        parameter, paging and fault rules, and generated items for any date range.

        Each day has one item per id in ``ids`` (one item when ``id_field`` is ``None``):
        ``{"date": ..., id_field: id, <each counts field>: {"pv": ..., "uv": ...}}``. Its error codes are
        stated one by one, from the endpoint's documentation (they follow no rule: the block endpoint's
        internal error is 1629004, not 1629003), never from the provider's record, so a wrong record fails.
        The endpoint stays through :meth:`reset`; ``inject``, ``calls``, ``count``, ``set_items`` and
        ``expected_items`` take its name, and the ``search`` selector includes it.

        :param name: the endpoint's name, e.g. ``"app"``.
        :param path: its path, e.g. ``"/open-apis/workplace/v1/app_access_data/search"`` (``POST``).
        :param id_field: the item field and query parameter that filters on one id, or ``None``.
        :param ids: the ids that have data each day (required with an ``id_field``).
        :param counts: the item fields holding ``{pv, uv}``.
        :param max_page_size: the largest page_size accepted.
        :param bad_date: the code of a malformed date; ``bad_range``: of from_date after to_date;
            ``internal_error``: of "internal error, retry"; ``bad_page_token``: of a bad page_token;
            ``bad_page_size``: of a page_size out of range (``None``: the gateway's field validation error).
        """
        if not isinstance(name, str) or not name or name in self._routes.selectors():
            raise ValueError(f"endpoint name {name!r} is taken or empty; pick a new one")
        if not isinstance(path, str) or not path.startswith("/open-apis/"):
            raise ValueError(f"path {path!r} must start with /open-apis/")
        if self._routes.endpoint_for("POST", path) is not None:
            raise ValueError(f"{path} is served already")
        if not counts or not all(isinstance(field, str) and field for field in counts):
            raise ValueError(f"counts={counts!r} must name at least one field")
        spec = SearchSpec(
            name=name,
            path=path,
            bad_date=bad_date,
            bad_range=bad_range,
            internal_error=internal_error,
            bad_page_token=bad_page_token,
            bad_page_size=bad_page_size,
            max_page_size=max_page_size,
            filter_param=id_field,
            counts_fields=tuple(counts),
        )
        self._dataset.add_kind(name, id_field, ids, spec.counts_fields)
        self._specs[name] = spec
        return spec

    def add_route(
        self,
        method: str,
        path: str,
        handler: Callable[[RouteRequest], Any],
        *,
        name: str | None = None,
    ) -> str:
        """Serve one more API: ``method`` on ``path`` answers what ``handler`` returns.

        ``path`` is a template: ``{name}`` matches one path segment, handed to the handler in
        ``request.path_params``. The route gets the platform's rules, as the built-in APIs do: a tenant
        token is required (99991661/99991663 otherwise), the rate limit applies per app and route,
        faults can be injected, requests are recorded, and another method on the path answers the
        plain-text 404. The handler receives a :class:`RouteRequest`; what it returns becomes the
        answer's ``data`` (``{"code": 0, "msg": "success", "data": ...}``); raising
        :class:`PlatformError` answers that error code instead; :func:`page_of` pages a list::

            double.add_route("GET", "/open-apis/contact/v3/users/{user_id}",
                             lambda request: {"user": {"open_id": request.path_params["user_id"]}})
            double.add_route("GET", "/open-apis/contact/v3/users", lambda request: page_of(USERS, request))

        The route stays through :meth:`reset`.

        :param method: ``GET``, ``POST``, ``PUT``, ``PATCH`` or ``DELETE``.
        :param path: the path template, starting with ``/open-apis/``.
        :param handler: ``handler(request) -> data``.
        :param name: the route's selector for ``inject``, ``calls`` and ``count``; default
            ``"<METHOD> <path>"``.
        :return: the route's name.
        """
        route = _routes.AddedRoute.build(name or f"{str(method).upper()} {path}", method, path, handler)
        self._routes.add(route)
        return route.name

    # -- messages --------------------------------------------------------------------------

    chat_ids = _held_by(
        "_messenger.chat_ids",
        "The chats the bot is in (a live, mutable ``set[str]``): a message to another chat answers 230002.",
    )
    sent_messages = _held_by(
        "_messenger.sent",
        "The messages (:class:`SentMessage`) the double accepted on ``POST /open-apis/im/v1/messages``, oldest "
        "first (a copy).",
    )

    # -- faults, clock, audit --------------------------------------------------------------

    def inject(
        self,
        kind: _faults.FaultKind | str,
        *,
        endpoint: str = "search",
        skip: int = 0,
        times: int | None = 1,
        **params: Any,
    ) -> None:
        """Queue a fault for the requests that ``endpoint`` selects.

        Faults are used in the order queued: a request meets the first queued fault that selects
        it, which first lets ``skip`` requests through, then applies to ``times`` requests.

        :param kind: a :class:`FaultKind` or its value, one of :data:`FAULT_KINDS`.
        :param endpoint: ``"search"``, ``"token"``, ``"any"`` or one endpoint's name.
        :param skip: matching requests to let through before the fault applies.
        :param times: matching requests the fault applies to; ``None``: every one from then on.
        :param params: the kind's parameters (``reset``, ``status``, ``delay``, ``code``, ...; the
            ``hostile`` kind takes ``mode``, one of :data:`HOSTILE_MODES`, and ``item``, ``field``,
            ``size``, ``content_length``).
        """
        self._faults.add(_faults.make_fault(kind, endpoint, skip, times, params, self._routes))

    def advance_clock(self, seconds: float) -> None:
        """Move the token clock forward, e.g. past the 30-minute reuse window or past expiry."""
        self._issuer.advance(seconds)

    issued_tokens = _held_by(
        "_issuer.issued",
        "Every tenant and app access token issued so far (a ``list[str]`` copy), e.g. to check none leaked.",
    )

    @property
    def requests(self) -> list[RecordedRequest]:
        """The requests received so far, in arrival order (a copy)."""
        with self._requests_lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        """Forget the requests recorded so far, and their counts."""
        with self._requests_lock:
            self._requests.clear()
            self._request_counts.clear()

    def request_counts(self) -> dict[tuple[str | None, int | None], int]:
        """Every request since the start (or :meth:`clear_requests`) by ``(endpoint, HTTP status)``.

        Counts every request, also those a bounded log (``max_recorded_requests``) no longer holds; a reset
        connection counts under status ``None``.
        """
        with self._requests_lock:
            return dict(self._request_counts)

    def calls(self, endpoint: str | None = None) -> list[RecordedRequest]:
        """The recorded requests ``endpoint`` selects, in arrival order, for assertions.

        :param endpoint: ``None`` for every request; a selector as in :meth:`inject` (``"search"``,
            ``"token"``, ``"any"``, or an endpoint's name such as ``"block"``); or a path starting
            with ``/`` (``"/open-apis/auth/v3/tenant_access_token/internal"``).
        """
        requests = self.requests
        if endpoint is None:
            return requests
        if isinstance(endpoint, str) and endpoint.startswith("/"):
            return [request for request in requests if request.path == endpoint]
        self._routes.check_selector(endpoint)
        return [request for request in requests if self._routes.matches(endpoint, request.endpoint)]

    def count(self, endpoint: str) -> int:
        """Number of recorded requests ``endpoint`` selects (same selectors as :meth:`calls`)."""
        return len(self.calls(endpoint))

    def reset(self) -> None:
        """Put the double back as it started: between tests that share one double.

        Drops queued faults, recorded requests, sent messages, exact items (:meth:`set_items`), publication times
        (:meth:`publish_at`), every issued token
        (clients must ask for new ones) and the token clock's advance; refills the rate-limit buckets;
        restores ``available_until``, ``unavailable_dates`` and ``chat_ids`` to the constructor's values. The
        port, credentials, generated data and added endpoints and routes stay the same.
        """
        self._faults.clear()
        self._issuer.reset()
        self._platform.limiter.reset()
        self._dataset.reset()
        self._messenger.reset()
        self.clear_requests()

    # -- connections -----------------------------------------------------------------------

    def connection(self, app_type: str = "self_built", **overrides: Any) -> str:
        """An Airflow connection to this double, in the JSON form ``AIRFLOW_CONN_<ID>`` takes.

        :param app_type: ``"self_built"`` (the self-built app's id and secret) or ``"store"`` (the
            store app, with its ticket and tenant key in the extras ``app_ticket_secret`` and ``tenant_key``).
        :param overrides: connection fields to change, e.g. ``password="wrong"`` to test bad
            credentials; ``None`` leaves a field out; ``extra={...}`` is merged into the extras.
        """
        return _connection.connection_json(self.url, dataclasses.asdict(self.credentials), app_type, **overrides)

    @contextmanager
    def connection_env(
        self, conn_id: str = "feishu_default", *, app_type: str = "self_built", **overrides: Any
    ) -> Iterator[str]:
        """Set Airflow connection ``conn_id`` to this double (``AIRFLOW_CONN_<CONN_ID>``) while in the block.

        Yields ``conn_id``; on exit the variable gets back the value it had, or is removed.

        :param conn_id: the connection id the DAG's operators use.
        :param app_type: and ``overrides``: as in :meth:`connection`.
        """
        with _connection.connection_env(conn_id, self.connection(app_type, **overrides)) as name:
            yield name

    # -- serving ---------------------------------------------------------------------------

    def _respond(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], raw_body: bytes
    ) -> Reply:
        """Answer one request and record it (before the client can see the answer)."""
        received_at = time.monotonic()
        endpoint = self._routes.endpoint_for(method, path)
        body = _json_object(raw_body)
        incoming = Incoming(endpoint, method, path, query, headers, body)
        reply = self._platform.handle(incoming)
        reply.log_id = _replies.new_log_id()
        # The record is the request as the platform saw it, and how it was answered.
        record = RecordedRequest(
            **incoming._asdict(),
            status=None if reply.reset else reply.status,
            code=reply.code,
            fault=reply.fault,
            log_id=None if reply.reset else reply.log_id,
            received_at=received_at,
        )
        with self._requests_lock:
            self._requests.append(record)
            self._request_counts[(endpoint, record.status)] += 1
        if reply.delay:
            self._stopping.wait(reply.delay)  # stop() cuts the wait short
        return reply


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw) if raw else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _as_date(value: datetime.date | str) -> datetime.date:
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    day = parse_date(value)
    if day is None:
        raise ValueError(f"expected a date or 'YYYY-MM-DD', got {value!r}")
    return day
