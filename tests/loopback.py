"""Small scripted HTTP servers on 127.0.0.1 for the hostile cases the Feishu double has no mode for.

``ScriptedServer(respond)`` answers every request with ``respond(handler, request)``, which writes the
answer itself (so it can trickle bytes, redirect, or send anything at all); every request is recorded.
``feishu_like(...)`` is a responder that answers the token and search paths the way Feishu does, so a
hook pointed at the server gets real data unless the test changes something.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

TOKEN = "t-loopback-token-0123456789"
SECRET = "loopback-secret-5e1f"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Recorded:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = field(repr=False)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class ScriptedServer:
    """An HTTP/1.0 server on 127.0.0.1 answering each request with ``respond(handler, request)``."""

    def __init__(self, respond: Callable[[BaseHTTPRequestHandler, Recorded], None]) -> None:
        self.requests: list[Recorded] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self._answer()

            def do_GET(self):
                self._answer()

            def _answer(self):
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Recorded(
                    self.command,
                    parts.path,
                    dict(parse_qsl(parts.query)),
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                )
                server.requests.append(request)
                try:
                    respond(self, request)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client hung up: that is what some tests want

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def paths(self) -> list[str]:
        return [request.path for request in self.requests]

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def send(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    content_length: bool = True,
) -> None:
    """Write a whole answer."""
    handler.send_response(status)
    for name, value in (headers or {"Content-Type": "application/json"}).items():
        handler.send_header(name, value)
    if content_length:
        handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)
    handler.wfile.flush()


def send_json(handler: BaseHTTPRequestHandler, payload: Any, status: int = 200, headers: dict[str, str] | None = None):
    send(handler, status, json.dumps(payload).encode(), {"Content-Type": "application/json", **(headers or {})})


def trickle(handler: BaseHTTPRequestHandler, data: bytes, every: float = 0.1, stop: threading.Event | None = None):
    """Write ``data`` one byte at a time, ``every`` seconds apart (until the client hangs up or ``stop``)."""
    for byte in data:
        if stop is not None and stop.is_set():
            return
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()
        time.sleep(every)


def token_answer(token: str = TOKEN) -> dict[str, Any]:
    return {"code": 0, "msg": "ok", "tenant_access_token": token, "expire": 7200}


def page_answer(items: list[dict], has_more: bool = False, page_token: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"items": items, "has_more": has_more}
    if page_token is not None:
        data["page_token"] = page_token
    return {"code": 0, "msg": "success", "data": data}


def block_items(day: str = "2026-11-19", count: int = 3) -> list[dict]:
    return [{"date": day, "block_id": f"blk_{n}", "access_data": {"pv": 10 + n, "uv": 5 + n}} for n in range(count)]


def feishu_like(search: Callable[[BaseHTTPRequestHandler, Recorded], None] | None = None):
    """A responder: the self-built token path answers a token; any other path ``search`` (default: one page)."""

    def respond(handler: BaseHTTPRequestHandler, request: Recorded) -> None:
        if request.path.startswith("/open-apis/auth/"):
            send_json(handler, token_answer())
        elif search is not None:
            search(handler, request)
        else:
            send_json(handler, page_answer(block_items()))

    return respond


def connection(url: str, **overrides: Any) -> str:
    """An Airflow connection (JSON form) for a self-built app on ``url``."""
    return json.dumps({"conn_type": "feishu", "host": url, "login": "cli_loopback", "password": SECRET, **overrides})
