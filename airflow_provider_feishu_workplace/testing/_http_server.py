"""HTTP/1.1 transport for the double: a quiet, fast, threaded server on the standard library."""

from __future__ import annotations

import selectors
import socket
import socketserver
import struct
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from airflow_provider_feishu_workplace.testing._replies import Reply, phrase

#: Called once per request with ``(method, path, query, headers, body bytes)``.
Responder = Callable[[str, str, dict[str, str], dict[str, str], bytes], Reply]


class DoubleServer(ThreadingHTTPServer):
    """A threaded HTTP server that hands every request to ``responder`` and stops without delay.

    Use :meth:`serve` and :meth:`stop_serving` rather than ``serve_forever``/``shutdown``, whose
    polling makes every stop take up to the poll interval.
    """

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], responder: Responder) -> None:
        self.responder = responder
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._stopped = False
        self._wake_reader, self._wake_writer = socket.socketpair()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def serve(self) -> None:
        """Accept connections, each handled in its own thread, until :meth:`stop_serving`."""
        with selectors.DefaultSelector() as selector:
            selector.register(self, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while not self._stopped:
                for key, _ in selector.select():
                    if key.fileobj is self and not self._stopped:
                        self._handle_request_noblock()  # type: ignore[attr-defined]  # BaseServer's, typeshed omits it

    def stop_serving(self) -> None:
        """Make :meth:`serve` return at once (callable from any thread)."""
        self._stopped = True
        self._wake_writer.send(b"\0")

    def server_close(self) -> None:
        super().server_close()
        self._wake_reader.close()
        self._wake_writer.close()

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which can stall for seconds without DNS.
        socketserver.TCPServer.server_bind(self)
        host, self.server_port = self.server_address[:2]
        self.server_name = host if isinstance(host, str) else host.decode()

    def get_request(self) -> tuple[socket.socket, object]:
        sock, address = super().get_request()
        # Without TCP_NODELAY, Nagle plus the client's delayed ACK add ~40 ms to some answers.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._connections_lock:
            self._connections.add(sock)
        return sock, address

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up is routine; anything else is a bug in the double and is printed.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Shut every open connection, so handler threads waiting on keep-alive sockets end."""
        with self._connections_lock:
            connections = list(self._connections)
        for sock in connections:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: DoubleServer

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet: the double runs inside test sessions and demos."""

    def _dispatch(self) -> None:
        try:
            body = self._read_body()
        except ValueError:  # a malformed chunked body
            self.close_connection = True
            self.send_error(400)
            return
        path, _, query_string = self.path.partition("?")
        query = dict(parse_qsl(query_string, keep_blank_values=True))
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = self.server.responder(self.command, path, query, headers, body)
        if reply.reset:
            self._reset()
        else:
            self._write(reply)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(chunks)
        length = self.headers.get("Content-Length")
        return self.rfile.read(int(length)) if length else b""

    def _write(self, reply: Reply) -> None:
        body = reply.encode()
        if not reply.content_length:
            self.close_connection = True  # closing the connection is what ends the body
        lines = [
            f"HTTP/1.1 {reply.status} {phrase(reply.status)}",
            f"Content-Type: {reply.content_type}",
            *([f"Content-Length: {len(body)}"] if reply.content_length else []),
            f"X-Tt-Logid: {reply.log_id}",
            *(f"{name}: {value}" for name, value in reply.headers.items()),
        ]
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        # One write: headers and body leave in the same segment.
        self.wfile.write(head if self.command == "HEAD" else head + body)

    def _reset(self) -> None:
        """Drop the connection with a TCP RST instead of an answer."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()  # it holds a reference that would keep the socket open
        self.connection.close()
