"""A real HTTP server on a loopback address that misbehaves on purpose, over raw sockets.

http.server cannot hang before its headers, lie in Content-Length, drop a connection or answer
with bytes that are not HTTP at all, so each exchange is written by hand: read one request,
let the site's handler write whatever it likes, close. Every request is logged with its
arrival time, so tests can check what reached the server and when.
"""

from __future__ import annotations

import socket
import socketserver
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Self

HANG_MAX = 15.0  # a hanging handler gives up by itself after this long (or at stop())
READ_TIMEOUT = 5.0
MAX_HEAD = 64 * 1024


@dataclass(frozen=True)
class Hit:
    at: float  # time.monotonic() when the request head was read
    host: str  # Host header, lower-cased, without port
    path: str


class Exchange:
    """One request and the raw socket to answer it on."""

    def __init__(self, sock: socket.socket, host: str, path: str, attempt: int,
                 stopping: threading.Event) -> None:
        self.sock = sock
        self.host = host
        self.path = path
        self.attempt = attempt  # 1 for the first request of this host + path, 2 for the next...
        self.stopping = stopping

    def send(self, data: bytes) -> bool:
        """Write raw bytes; False once the client has gone (which faults provoke routinely)."""
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return True

    def head(self, status: int, headers: dict[str, str]) -> bytes:
        reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "X"
        lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers.items())]
        return ("\r\n".join([*lines, "Connection: close"]) + "\r\n\r\n").encode("latin-1")

    def respond(self, status: int, body: bytes = b"",
                content_type: str = "text/html; charset=utf-8",
                **headers: str) -> None:
        """A well-formed response (header names: underscores become dashes)."""
        fields = {"Content-Type": content_type, "Content-Length": str(len(body))}
        fields |= {k.replace("_", "-"): v for k, v in headers.items()}
        self.send(self.head(status, fields) + body)

    def hang(self) -> None:
        """Hold the connection open, silent, until the client gives up or the server stops."""
        self.stopping.wait(HANG_MAX)


Handler = Callable[[Exchange], None]
Router = Callable[[str, str], Handler | None]  # (host, path) -> handler; None: 404


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False  # hanging handlers must not hold up stop()
    owner: FaultServer


class _RequestHandler(socketserver.BaseRequestHandler):
    server: _TCPServer

    def handle(self) -> None:
        owner = self.server.owner
        owner._connected()
        sock: socket.socket = self.request
        sock.settimeout(READ_TIMEOUT)
        head = _read_head(sock)
        if head is None:
            return
        host, path = head
        exchange = Exchange(sock, host, path, owner._record(host, path), owner.stopping)
        handler = owner.router(host, path)
        try:
            if handler is None:
                exchange.respond(404, b"not found\n", "text/plain; charset=utf-8")
            else:
                handler(exchange)
        except OSError:
            pass  # the client hung up mid-fault: expected
        except Exception:
            traceback.print_exc()
            exchange.respond(500, b"fault server bug\n", "text/plain")
        finally:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _read_head(sock: socket.socket) -> tuple[str, str] | None:
    """(host, path) of one request, or None when the client sent no complete head."""
    data = b""
    try:
        while b"\r\n\r\n" not in data and len(data) < MAX_HEAD:
            chunk = sock.recv(4096)
            if not chunk:
                return None
            data += chunk
    except OSError:
        return None
    lines = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    parts = lines[0].split()
    if len(parts) != 3:
        return None
    host = ""
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "host":
            host = value.strip().lower().rsplit(":", 1)[0]
    return host, parts[1]


class FaultServer:
    """A raw HTTP server on `host` (any 127.x address), routing each request by Host + path."""

    def __init__(self, router: Router, host: str = "127.0.0.1") -> None:
        self.router = router
        self.host = host
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._hits: list[Hit] = []
        self._attempts: dict[tuple[str, str], int] = {}
        self._connections = 0
        self._tcp: _TCPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> Self:
        tcp = _TCPServer((self.host, 0), _RequestHandler)
        tcp.owner = self
        self._tcp = tcp
        self._thread = threading.Thread(target=tcp.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"faults-{self.addr}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._tcp is None:
            return
        self.stopping.set()  # wakes every hanging handler
        self._tcp.shutdown()
        self._tcp.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._tcp = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._tcp is None:
            raise RuntimeError("fault server is not running")
        return int(self._tcp.server_address[1])

    @property
    def addr(self) -> str:
        return f"{self.host}:{self.port}"

    # -- request log ------------------------------------------------------------------------
    def _connected(self) -> None:
        with self._lock:
            self._connections += 1

    def _record(self, host: str, path: str) -> int:
        with self._lock:
            self._hits.append(Hit(time.monotonic(), host, path))
            key = (host, path)
            self._attempts[key] = self._attempts.get(key, 0) + 1
            return self._attempts[key]

    @property
    def connections(self) -> int:
        """TCP connections accepted, whether or not a request followed."""
        with self._lock:
            return self._connections

    def hits(self, host: str | None = None, path: str | None = None) -> list[Hit]:
        with self._lock:
            return [h for h in self._hits
                    if host in (None, h.host) and path in (None, h.path)]


@contextmanager
def sentinel(host: str = "127.0.0.2") -> Iterator[FaultServer]:
    """A server no crawl may reach: it answers 404 and counts connections."""
    with FaultServer(lambda _host, _path: None, host=host) as server:
        yield server
