"""A fake Feishu Open Platform for testing DAGs and hooks offline.

:class:`FeishuDouble` serves, on a loopback port, the auth endpoints (self-built and store apps),
the three workplace access-data search endpoints and the message API (``POST /open-apis/im/v1/messages``,
recorded in :attr:`FeishuDouble.sent_messages`), with the real platform's token rules, error codes,
paging and rate limits. Any other API a test needs is one :meth:`FeishuDouble.add_route` away. Its data
is generated, deterministic and available for any date range. Faults (rate limits, 5xx, resets, expired
tokens, ...) can be queued to test retries.

Faults are listed in :class:`FaultKind` (and :data:`FAULT_KINDS`). One of them, ``hostile``, answers a
search with HTTP 200 and code 0 but breaks the contract in the way its ``mode`` (one of
:data:`HOSTILE_MODES`) says, to test what a client does with a server that is wrong:

- item modes (parameter ``item``: which item of the page, default the first): ``missing_field``
  (parameter ``field``, a dotted path: ``"date"``, ``"block_id"``, ``"access_data.pv"``; default the
  counts object), ``string_pv``, ``null_access_data``, ``not_an_object``, ``negative_pv``,
  ``negative_uv``, ``uv_above_pv``;
- modes that put one more item first on the page (the page's last item moves to the next page, so
  the page stays within ``page_size``): ``out_of_range_date``, ``duplicate_item`` (the previous
  page's last item again), ``conflicting_duplicate`` (the same, with a different pv);
- paging modes: ``has_more_without_token``, ``repeat_token``, ``token_cycle`` (the tokens go A, B,
  A, B, ...), ``endless_pages`` and ``empty_pages`` (use ``times=None`` for these: every request from
  then on), ``oversized_page`` (``page_size + 1`` items), ``huge_body`` (parameter ``size`` bytes of
  padding, default 21 MiB; ``content_length=False`` leaves the length out).

For example ``double.inject("hostile", endpoint="block", skip=1, mode="string_pv")`` makes the
second block page carry ``"pv": "12"``.

With pytest, the ``feishu_connection`` fixture (from this package's pytest plugin, registered when the
provider is installed) starts a double, points Airflow connection ``feishu_default`` at it and returns
that id; the ``feishu_double`` fixture is the same double, to queue faults, set items and check calls::

    def test_my_dag(feishu_connection, feishu_double):
        feishu_double.inject(FaultKind.RATE_LIMIT, times=2)   # the next two searches answer HTTP 429
        feishu_double.set_items("block", "2024-01-01", [])      # no blocks that day
        my_dag.test(logical_date=...)
        assert feishu_double.count("search") == ...
        assert [call.query["from_date"] for call in feishu_double.calls("block")] == [...]

A test adds an API with :meth:`FeishuDouble.add_route`: a method, a path template and a handler that
gets a :class:`RouteRequest` and returns the answer's ``data`` (or raises :class:`PlatformError`);
:func:`page_of` pages a list the way the platform's list APIs do. The route gets the platform's rules
(tenant token, rate limit, faults, the request log; another method on the path answers 404)::

    def test_user_lookup(feishu_connection, feishu_double):
        feishu_double.add_route(
            "GET", "/open-apis/contact/v3/users/{user_id}",
            lambda request: {"user": {"open_id": request.path_params["user_id"]}},
        )
        assert FeishuHook().call("GET", "/open-apis/contact/v3/users/ou_1") == {"user": {"open_id": "ou_1"}}

Messages sent to a chat the bot is in (:attr:`FeishuDouble.chat_ids`, default ``oc_double_alerts``)
are recorded as :class:`SentMessage`; another chat answers 230002, as the platform does.

Without pytest, use it as a context manager; :meth:`FeishuDouble.connection` gives the connection's
JSON and :meth:`FeishuDouble.connection_env` sets it for a block::

    from airflow_provider_feishu_workplace.testing import FeishuDouble

    with FeishuDouble() as double, double.connection_env("feishu_default"):
        ...  # run the hook, operator or DAG
        rows = double.expected_items("block", "2024-01-01", "2024-01-31")

From a shell, ``python -m airflow_provider_feishu_workplace.testing serve`` runs one and prints its URL
and credentials as a JSON line; ``... faults`` lists the fault kinds. :func:`served_double` does the
former from Python.

For a store app, :class:`EventPusher` plays the platform's side of the app's event callback: given the
callback URL (the receiver, ``.../feishu/events/<conn_id>``), the Encrypt Key and the verification token,
it pushes signed, encrypted ``app_ticket`` events on start, every ``ticket_interval`` seconds and on each
``app_ticket/resend``, pushes ``app_open`` / ``app_status_change`` / ``order_paid`` on request, and
redelivers what gets no 200 in time; :class:`PushRecord` is what it reports of each push
(docs/store-apps.md)::

    with FeishuDouble() as double, EventPusher.for_double(
        double, "http://127.0.0.1:8080/feishu/events/feishu_store",
        encrypt_key="...", verification_token="...", ticket_interval=5,
    ) as pusher:
        pusher.wait_delivered(pusher.push_tenant_event("app_open", "tenant_a"))

This package imports only the standard library (encrypting an event needs ``cryptography``, which
Airflow installs).
"""

from airflow_provider_feishu_workplace.testing._double import FeishuDouble, RecordedRequest
from airflow_provider_feishu_workplace.testing._faults import FAULT_KINDS, HOSTILE_MODES, FaultKind
from airflow_provider_feishu_workplace.testing._messages import SentMessage
from airflow_provider_feishu_workplace.testing._pusher import EventPusher, PushRecord
from airflow_provider_feishu_workplace.testing._route_handlers import PlatformError, RouteRequest, page_of
from airflow_provider_feishu_workplace.testing._search import SearchSpec
from airflow_provider_feishu_workplace.testing._subprocess_double import ServedDouble, served_double

__all__ = [
    "FAULT_KINDS",
    "EventPusher",
    "HOSTILE_MODES",
    "FaultKind",
    "FeishuDouble",
    "PlatformError",
    "PushRecord",
    "RecordedRequest",
    "RouteRequest",
    "SearchSpec",
    "SentMessage",
    "ServedDouble",
    "page_of",
    "served_double",
]
