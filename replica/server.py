"""The replica as a real HTTP server on 127.0.0.1, routed by Host header.

Spiders keep requesting the site's real https:// URLs and a download handler points both hosts
at this server, so routing has to look at the Host header, not at the port.
"""

from __future__ import annotations

import re
import sys
import threading
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import unquote, urlsplit

import replica.render as render
from replica.content import (
    DEFAULT_SEED,
    MOSCOW,
    SECTIONS,
    WWW,
    ReplicaArticle,
    SeedPath,
    as_of,
    load_articles,
)

DEFAULT_NOW = datetime(2022, 2, 2, 12, 0, tzinfo=MOSCOW)

WWW_HOST = "www.themoscowtimes.com"
STATIC_HOST = "static.themoscowtimes.com"
_WWW_NAMES = {WWW_HOST, "themoscowtimes.com", "127.0.0.1", "localhost"}

HTML = "text/html; charset=utf-8"
RSS = "application/rss+xml; charset=utf-8"
RSS_CP1251 = "application/rss+xml; charset=windows-1251"
XML = "application/xml; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
JPEG = "image/jpeg"

# A valid 1x1 grey baseline JPEG (hand-assembled: SOI, JFIF, DQT, SOF0, two one-code Huffman
# tables, SOS, one entropy byte, EOI), so image URLs return something a decoder accepts.
TINY_JPEG = bytes.fromhex(
    "ffd8"
    "ffe000104a46494600010100000100010000"
    "ffdb004300" + "01" * 64 + "ffc0000b080001000101011100"
    "ffc400140001" + "00" * 15 + "00"
    "ffc400141001" + "00" * 15 + "00"
    "ffda0008010100003f00"
    "3f"
    "ffd9"
)

_ARTICLE_RE = re.compile(r"^/\d{4}/\d{1,2}/\d{1,2}/[^/]*-a(\d+)/?$")
_OFFSET_RE = re.compile(r"^(/.+)/(\d+)$")
_NEXT_RE = re.compile(r"^/all/(\d+)$")
_IMAGE_RE = re.compile(r"^/image/[A-Za-z0-9_]+/([0-9a-f]{2}/[^/]+)$")


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: bytes
    location: str | None = None


def _html(text: str, status: int = 200) -> Response:
    return Response(status, HTML, text.encode("utf-8"))


NOT_FOUND = _html(render.render_not_found(), 404)


class Site:
    """Every page of the replica at one instant of its clock, rendered once up front.

    Immutable after construction, so request threads share it without locking; moving the
    clock builds a new Site.
    """

    def __init__(self, articles: Sequence[ReplicaArticle], now: datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self.now = now
        visible = [as_of(a, now) for a in articles if a.published <= now]
        visible.sort(key=lambda a: (a.published, a.id), reverse=True)
        self.visible: tuple[ReplicaArticle, ...] = tuple(visible)
        self.by_id = {a.id: a for a in visible}
        self._ids_ascending = sorted(self.by_id)
        self._listings = self._collect_listings()
        self._www = self._build_www()
        self._static = self._build_static()
        self._images = {render.SITE_IMAGE_FILE}
        for article in visible:
            if article.image is not None:
                self._images.add(article.image.file)
            self._images.update(b.file for b in article.blocks if b.type == "image")

    # ------------------------------------------------------------------ build

    def _collect_listings(self) -> dict[str, tuple[str, list[ReplicaArticle]]]:
        """Listing path -> (heading, its articles newest first)."""
        listings: dict[str, tuple[str, list[ReplicaArticle]]] = {}
        for section in SECTIONS:
            listings[f"/{section}"] = (render.section_title(section), [])
        for article in self.visible:
            listings[f"/{article.section}"][1].append(article)
            for tag in article.tags:
                listings.setdefault(render.tag_path(tag), (tag, []))[1].append(article)
            for author in article.authors:
                listings.setdefault(author.path, (author.name, []))[1].append(article)
        return listings

    def _build_www(self) -> dict[str, Response]:
        pages: dict[str, Response] = {
            "/robots.txt": Response(200, TEXT, render.ROBOTS_WWW.encode()),
            "/rss/all": Response(200, RSS, render.render_all_feed(self.visible, self.now).encode()),
            "/rss/yandex-news": Response(
                200, RSS_CP1251, render.render_yandex_feed(self.visible, self.now)
            ),
        }
        for name in render.FEED_SECTIONS:
            feed = render.render_section_feed(name, self.visible, self.now)
            pages[f"/rss/{name}"] = Response(200, RSS, feed.encode())
        neighbours = render.Neighbours.of(self.visible)
        for article in self.visible:
            pages[article.path] = _html(render.render_article_page(article, neighbours))
        # The home page shows the newest cards only; its archive is the section pages.
        home = render.render_listing_page("Latest news", "/", self.visible[: render.PAGE_SIZE], 0)
        pages["/"] = _html(home)
        for path, (heading, articles) in self._listings.items():
            # Pre-render the pages "Load more" links to; other offsets render on demand.
            for offset in range(0, max(len(articles), 1), render.PAGE_SIZE):
                page_path = path if offset == 0 else f"{path}/{offset}"
                pages[page_path] = _html(
                    render.render_listing_page(heading, path, articles, offset)
                )
        return pages

    def _build_static(self) -> dict[str, Response]:
        pages: dict[str, Response] = {
            "/robots.txt": Response(200, TEXT, render.ROBOTS_STATIC.encode()),
            "/sitemap/sitemap.xml": Response(
                200, XML, render.render_sitemap_index(self.visible).encode()
            ),
            "/sitemap/newsmap.xml": Response(200, XML, render.render_newsmap_index().encode()),
        }
        months: dict[str, list[ReplicaArticle]] = {}
        for article in self.visible:
            months.setdefault(render.month_key(article), []).append(article)
        for key, articles in months.items():
            body = render.render_month_sitemap(articles).encode()
            pages[f"/sitemap/{key}.xml"] = Response(200, XML, body)
        for name in render.NEWSMAP_NAMES:
            body = render.render_newsmap(name, self.visible, self.now).encode()
            pages[f"/sitemap/newsmap/{name}.xml"] = Response(200, XML, body)
        return pages

    # ------------------------------------------------------------------ lookup

    def get(self, host: str, path: str) -> Response:
        """`host` is WWW_HOST or STATIC_HOST; `path` has no query string."""
        if host == STATIC_HOST:
            return self._get_static(path)
        if host == WWW_HOST:
            return self._get_www(path)
        return NOT_FOUND

    def _get_static(self, path: str) -> Response:
        page = self._static.get(path)
        if page is not None:
            return page
        match = _IMAGE_RE.match(path)
        if match and match.group(1) in self._images:
            return Response(200, JPEG, TINY_JPEG)
        return NOT_FOUND

    def _get_www(self, path: str) -> Response:
        if path.startswith("/tag/"):
            path = self._normalise_tag_path(path)
        page = self._www.get(path)
        if page is not None:
            return page
        match = _ARTICLE_RE.match(path)
        if match:
            article = self.by_id.get(int(match.group(1)))
            if article is None:
                return NOT_FOUND
            # Only the canonical path has a cached page, so reaching here means the date or
            # slug differ: the site redirects, keeping the id as the identity.
            location = article.canonical_url
            return Response(301, HTML, render.render_redirect(location).encode(), location)
        match = _NEXT_RE.match(path)
        if match:
            return self._next_article(int(match.group(1)))
        match = _OFFSET_RE.match(path)
        if match and match.group(1) in self._listings:
            heading, articles = self._listings[match.group(1)]
            offset = int(match.group(2))
            if offset < len(articles):
                return _html(render.render_listing_page(heading, match.group(1), articles, offset))
        return NOT_FOUND

    @staticmethod
    def _normalise_tag_path(path: str) -> str:
        # Clients differ in how they quote tags with spaces; compare in one canonical form.
        rest = path[len("/tag/") :]
        tag, slash, offset = rest.partition("/")
        return render.tag_path(unquote(tag)) + slash + offset

    def _next_article(self, article_id: int) -> Response:
        earlier = [i for i in self._ids_ascending if i < article_id]
        if not earlier:
            return NOT_FOUND
        return _html(render.render_next_fragment(self.by_id[earlier[-1]]))


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    replica: ReplicaServer

    def handle_error(self, request: object, client_address: object) -> None:
        # Crawlers hang up mid-response routinely; only real errors deserve a traceback.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"
    timeout = 30  # drop idle keep-alive connections

    def do_GET(self) -> None:
        self._serve(send_body=True)

    def do_HEAD(self) -> None:
        self._serve(send_body=False)

    def _serve(self, send_body: bool) -> None:
        replica = self.server.replica
        target = urlsplit(self.path)
        # An absolute-form target (proxy style) names the host itself and wins over Host.
        host_header = target.netloc or self.headers.get("Host", "")
        host = site_host(host_header)
        path = target.path or "/"
        logged_path = path + (f"?{target.query}" if target.query else "")
        try:
            response = replica.site.get(host, path) if host else NOT_FOUND
        except Exception:  # a bug must answer 500, not leave the client hanging
            traceback.print_exc()
            response = Response(500, TEXT, b"internal error\n")
        replica._record(host or host_header, logged_path, response.status)

        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        if response.location:
            self.send_header("Location", response.location)
        self.end_headers()
        if send_body:
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # tests and the demo read requests_log instead of stderr


def site_host(host_header: str) -> str | None:
    """The replica host a Host header addresses: WWW_HOST, STATIC_HOST or None (unknown)."""
    name = host_header.strip().lower()
    if name.startswith("["):  # IPv6 literal, e.g. [::1]:8080
        name = name[: name.find("]") + 1]
    else:
        name = name.rsplit(":", 1)[0] if ":" in name else name
    if not name or name in _WWW_NAMES or name == "[::1]":
        return WWW_HOST
    if name == STATIC_HOST:
        return STATIC_HOST
    return None


class ReplicaServer:
    """The Moscow Times replica on a real socket; use as a context manager or start()/stop().

    requests_log holds (host, path, status) for every request, host being WWW_HOST or
    STATIC_HOST (or the raw Host header when unknown) and path including any query string.
    """

    def __init__(
        self,
        now: datetime = DEFAULT_NOW,
        articles_dir: Path | None = None,
        seed_path: SeedPath = DEFAULT_SEED,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        articles: Sequence[ReplicaArticle] | None = None,
    ) -> None:
        """`articles`, when given, replaces loading from `articles_dir` and the seed."""
        if articles is None:
            articles = load_articles(articles_dir, seed_path)
        self.articles: tuple[ReplicaArticle, ...] = tuple(articles)
        self.host = host
        self._requested_port = port
        self._site = Site(self.articles, now)
        self._lock = threading.Lock()
        self._log: list[tuple[str, str, int]] = []
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ clock

    @property
    def now(self) -> datetime:
        return self._site.now

    @property
    def site(self) -> Site:
        return self._site

    def set_now(self, now: datetime) -> None:
        """Move the clock (e.g. to the next night) without changing the port."""
        site = Site(self.articles, now)
        self._site = site  # one reference swap: requests see the old or the new site, whole

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        if self._httpd is not None:
            raise RuntimeError("replica server already started")
        httpd = _HTTPServer((self.host, self._requested_port), _Handler)
        httpd.replica = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"replica-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> Self:
        if self._httpd is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("replica server is not running")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------------ request log

    def _record(self, host: str, path: str, status: int) -> None:
        with self._lock:
            self._log.append((host, path, status))

    @property
    def requests_log(self) -> list[tuple[str, str, int]]:
        """A snapshot copy, safe to inspect while requests continue."""
        with self._lock:
            return list(self._log)

    def clear_requests_log(self) -> None:
        with self._lock:
            self._log.clear()

    def hits(self, path: str, host: str | None = None) -> int:
        """How many requests asked for `path` (on `host`, if given)."""
        with self._lock:
            return sum(1 for h, p, _ in self._log if p == path and host in (None, h))


__all__ = [
    "DEFAULT_NOW",
    "STATIC_HOST",
    "WWW",
    "WWW_HOST",
    "ReplicaServer",
    "Response",
    "Site",
    "site_host",
]
