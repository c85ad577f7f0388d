"""A static test site on a real HTTP server (127.0.0.1, a free port) that logs every request.

Tests use the log to prove what a crawl did not fetch (out-of-window pages, skipped sitemaps).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Route:
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


class SiteServer:
    """Serves `routes` (path -> Route; a path with a query string falls back to the bare path)."""

    def __init__(self, routes: dict[str, Route]) -> None:
        self.routes = routes
        self._log: list[tuple[str, str]] = []  # (Host header, path with query)
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def requests(self) -> list[str]:
        """Paths requested so far (with query strings), in order."""
        with self._lock:
            return [path for _, path in self._log]

    def paths(self) -> list[str]:
        return [urlsplit(p).path for p in self.requests()]

    def reset_log(self) -> None:
        with self._lock:
            self._log.clear()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server dispatches on this name
                with server._lock:
                    server._log.append((self.headers.get("Host", ""), self.path))
                route = server.routes.get(self.path) or server.routes.get(
                    urlsplit(self.path).path)
                if route is None:
                    route = Route(b"not found", "text/plain", 404)
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(route.body)))
                for key, value in route.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(route.body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # the request log above is the record; stderr noise helps nobody

        return Handler

    def __enter__(self) -> SiteServer:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
