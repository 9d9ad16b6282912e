"""One overall deadline per request, body included, against servers that trickle a byte every 0.1 s.

``timeout`` used to bound each socket read only: a trickling server held one request for 26.9 s with
``timeout=1``. Now each request ends within ``timeout`` (plus scheduling slack), and a request with all
its retries (its token request included) ends within ``retry_deadline + timeout``.
"""

from __future__ import annotations

import json
import time

import pytest

from airflow_provider_feishu_workplace.exceptions import FeishuApiError
from airflow_provider_feishu_workplace.hooks.feishu_workplace import FeishuWorkplaceHook
from tests.loopback import (
    ScriptedServer,
    block_items,
    connection,
    feishu_like,
    page_answer,
    send_json,
    token_answer,
    trickle,
)

TIMEOUT, RETRY_DEADLINE = 1.0, 5.0
SLACK = 0.8  # thread scheduling on a loaded 2-core machine
PAGE = json.dumps(page_answer(block_items())).encode()


def trickled_body(handler, request, *, content_length: bool = True):
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    if content_length:
        handler.send_header("Content-Length", str(len(PAGE)))
    handler.end_headers()
    handler.wfile.flush()
    trickle(handler, PAGE)


def trickled_headers(handler, request):
    head = f"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(PAGE)}\r\n".encode()
    trickle(handler, head + b"X-Padding: " + b"p" * 400 + b"\r\n\r\n" + PAGE)


def silent_after_headers(handler, request):
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(PAGE)))
    handler.end_headers()
    handler.wfile.flush()
    time.sleep(30)


CASES = [
    pytest.param(trickled_body, id="body-trickled"),
    pytest.param(lambda h, r: trickled_body(h, r, content_length=False), id="body-trickled-no-content-length"),
    pytest.param(trickled_headers, id="headers-trickled"),
    pytest.param(silent_after_headers, id="silent-after-headers"),
]


def hook(**kwargs) -> FeishuWorkplaceHook:
    kwargs = {
        "timeout": TIMEOUT,
        "retry_deadline": RETRY_DEADLINE,
        "max_attempts": 100,
        "backoff_base": 0.01,
        "backoff_max": 0.05,
        **kwargs,
    }
    return FeishuWorkplaceHook(**kwargs)


def gaps(server: ScriptedServer) -> list[float]:
    """Seconds between the arrivals of consecutive requests (each attempt lasted at most that long)."""
    return [b - a for a, b in zip(server.arrivals, server.arrivals[1:], strict=False)]


class TimedServer(ScriptedServer):
    def __init__(self, respond):
        self.arrivals: list[float] = []

        def timed(handler, request):
            self.arrivals.append(time.monotonic())
            respond(handler, request)

        super().__init__(timed)


@pytest.mark.parametrize("search", CASES)
def test_a_trickling_search_ends_within_retry_deadline_plus_one_request(search, monkeypatch, figures, request):
    with TimedServer(feishu_like(search)) as server:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection(server.url))
        started = time.monotonic()
        with pytest.raises(FeishuApiError, match="did not complete within its deadline of 1.0s") as caught:
            list(hook().iter_workplace_block_access_data("2026-11-19", "2026-11-19"))
        elapsed = time.monotonic() - started

    assert elapsed < RETRY_DEADLINE + TIMEOUT + SLACK
    assert "gave up after" in str(caught.value)
    searches = [r for r in server.requests if "search" in r.path]
    assert len(searches) >= 3  # it did retry, each attempt cut at its deadline
    assert max(gaps(server)[1:]) < TIMEOUT + SLACK  # the first gap is the token call
    figures("deadlines", request.node.callspec.id, {"seconds": round(elapsed, 2), "attempts": len(searches)})


def test_a_trickling_token_call_counts_on_the_searchs_clock(monkeypatch):
    def respond(handler, request):
        if request.path.startswith("/open-apis/auth/"):
            handler.send_response(200)
            handler.send_header("Content-Length", "500")
            handler.end_headers()
            handler.wfile.flush()
            trickle(handler, json.dumps(token_answer()).encode().ljust(500))
        else:
            send_json(handler, page_answer(block_items()))

    with TimedServer(respond) as server:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection(server.url))
        started = time.monotonic()
        with pytest.raises(FeishuApiError, match="did not complete within its deadline"):
            list(hook().iter_workplace_block_access_data("2026-11-19", "2026-11-19"))
        elapsed = time.monotonic() - started

    assert elapsed < RETRY_DEADLINE + TIMEOUT + SLACK
    assert all("search" not in r.path for r in server.requests)


def test_one_request_of_a_trickling_server_ends_at_its_deadline_not_at_the_last_byte(monkeypatch):
    with TimedServer(feishu_like(trickled_body)) as server:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection(server.url))
        started = time.monotonic()
        with pytest.raises(FeishuApiError, match="deadline"):
            list(hook(max_attempts=1).iter_workplace_block_access_data("2026-11-19", "2026-11-19"))
        elapsed = time.monotonic() - started

    # The page takes len(PAGE) / 10 seconds to trickle (over 20 s); the request ends after about 1 s.
    assert len(PAGE) / 10 > 20
    assert elapsed < TIMEOUT + SLACK + 0.5  # the token call (fast) and one search


def test_a_slow_answer_that_ends_within_the_deadline_is_read_whole(monkeypatch):
    def slow_but_in_time(handler, request):
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(PAGE)))
        handler.end_headers()
        for start in range(0, len(PAGE), len(PAGE) // 8 + 1):
            handler.wfile.write(PAGE[start : start + len(PAGE) // 8 + 1])
            handler.wfile.flush()
            time.sleep(0.05)

    with TimedServer(feishu_like(slow_but_in_time)) as server:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection(server.url))
        items = list(hook(timeout=3.0).iter_workplace_block_access_data("2026-11-19", "2026-11-19"))

    assert items == block_items()
    assert len(server.requests) == 2


def test_the_deadline_does_not_leak_into_later_requests_on_the_same_connection(monkeypatch):
    """Many quick requests through one pooled session, each under its own deadline, all succeed."""
    with ScriptedServer(feishu_like()) as server:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection(server.url))
        h = hook(timeout=0.5)
        for _ in range(5):
            assert list(h.iter_workplace_block_access_data("2026-11-19", "2026-11-19")) == block_items()
            time.sleep(0.2)  # past an earlier request's deadline: its timer must not cut this one
        h.close()


def test_a_tls_handshake_trickled_by_the_server_ends_at_the_deadline(monkeypatch):
    """An https server that answers the ClientHello with a record header and then one byte every 0.1 s."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=drip, args=(client,), daemon=True).start()

    def drip(client):
        with client:
            try:
                client.recv(4096)  # the ClientHello
                client.sendall(b"\x16\x03\x03\x40\x00")  # a handshake record of 16 KiB is coming...
                while not stop.is_set():
                    client.sendall(b"\x00")
                    time.sleep(0.1)
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", connection(f"https://127.0.0.1:{listener.getsockname()[1]}"))
        started = time.monotonic()
        with pytest.raises(FeishuApiError, match="deadline"):
            hook(max_attempts=2).get_tenant_access_token()
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()

    assert elapsed < 2 * TIMEOUT + SLACK
