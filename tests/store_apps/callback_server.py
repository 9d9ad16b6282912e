"""A callback endpoint on loopback for the double's pushes: each request goes to a function of the test."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from requests.structures import CaseInsensitiveDict

# (path, headers, raw body) -> (HTTP status, body bytes)
Answer = Callable[[str, CaseInsensitiveDict, bytes], tuple[int, bytes]]


@contextlib.contextmanager
def callback_server(answer: Answer) -> Iterator[str]:
    """Serve ``answer`` on 127.0.0.1; yield the callback URL; stop the server on exit."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, content = answer(self.path, CaseInsensitiveDict(self.headers.items()), body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def log_message(self, *args: object) -> None:  # quiet: the test reads what it needs
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/callback"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
