"""A small synchronous, polite HTTP client for trying a site (`nightdesk try`): a handful of pages,
so no Scrapy, but the crawl's rules all the same.

- the project's User-Agent, timeout, size limit and redirect limit (spiders/settings.py);
- robots.txt obeyed per origin, as the crawl does (PoliteRobotsTxtMiddleware): 4xx means allow
  all, 5xx/429 or no answer means disallow all, Crawl-delay honoured up to
  CRAWL_DELAY_MAX (a longer one: the host is not fetched);
- a delay between any two requests (the longer of DOWNLOAD_DELAY and Crawl-delay);
- the address guard (spiders.middlewares.AddressPolicy, NIGHTDESK_ALLOWED_ADDRESSES) decides on the
  resolved address, and the connection goes to that very address (no second DNS answer).
"""

from __future__ import annotations

import gzip
import http.client
import io
import socket
import ssl
import time
import zlib
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from protego import Protego
from scrapy.settings import Settings

from spiders import settings as project_settings
from spiders.middlewares import REDIRECT_STATUSES, AddressPolicy, ip_literal

_ALLOW_HINT = " (NIGHTDESK_ALLOWED_ADDRESSES lists addresses to allow)"


class FetchError(Exception):
    """A URL that gave no usable answer; the message says why in one line."""


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    status: int
    content_type: str
    body: bytes
    location: str | None = None  # a redirect's absolute target


@dataclass
class _Robots:
    rules: Protego | None  # None: disallow everything (robots.txt unavailable)
    why: str = ""
    text: str = ""
    delay: float = 0.0


def user_agent(contact: str | None = None) -> str:
    """The crawl's User-Agent with the operator's contact (Settings.contact), as crawls send."""
    ua = project_settings.USER_AGENT
    return ua.replace("+https://github.com/nightdesk", contact) if contact else ua


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int | None, ip: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._ip = ip

    def connect(self) -> None:
        self.sock = socket.create_connection((self._ip, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int | None, ip: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._ip = ip

    def connect(self) -> None:
        sock = socket.create_connection((self._ip, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


@dataclass
class PoliteFetcher:
    delay: float | None = None  # None: spiders/settings.py's DOWNLOAD_DELAY
    requests: list[str] = field(default_factory=list)  # every URL requested, in order
    contact: str | None = None  # Settings.contact
    allowed_addresses: tuple[str, ...] = ()  # Settings.allowed_addresses

    def __post_init__(self) -> None:
        s = Settings()
        s.setmodule(project_settings)
        s.set("ADDRESS_ALLOWLIST", list(self.allowed_addresses))
        self.policy = AddressPolicy(s)
        self.ua = user_agent(self.contact)
        self.timeout = s.getfloat("DOWNLOAD_TIMEOUT")
        self.max_bytes = s.getint("DOWNLOAD_MAXSIZE")
        self.max_redirects = s.getint("REDIRECT_MAX_TIMES")
        self.max_crawl_delay = s.getfloat("CRAWL_DELAY_MAX")
        if self.delay is None:
            self.delay = s.getfloat("DOWNLOAD_DELAY")
        self._robots: dict[str, _Robots] = {}
        self._last = 0.0

    # -- robots.txt ---------------------------------------------------------------------------
    def robots(self, url: str) -> _Robots:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self._robots:
            self._robots[origin] = self._read_robots(origin + "/robots.txt")
        return self._robots[origin]

    def _read_robots(self, url: str) -> _Robots:
        try:
            got = self._get(url)
        except FetchError as exc:
            return _Robots(None, f"robots.txt unavailable ({exc}): the crawl would not fetch "
                           "this host")
        if got.status in (429,) or got.status >= 500:
            return _Robots(None, f"robots.txt answered HTTP {got.status}: the crawl would not "
                           "fetch this host")
        if got.status != 200:
            return _Robots(Protego.parse(""), f"no robots.txt (HTTP {got.status})")
        text = got.body.decode("utf-8", "replace")
        rules = Protego.parse(text)
        delay = float(rules.crawl_delay(self.ua) or 0.0)
        if delay > self.max_crawl_delay:
            return _Robots(None, f"robots.txt asks for a Crawl-delay of {delay:g} s, above the "
                           f"{self.max_crawl_delay:g} s the crawl accepts", text, delay)
        return _Robots(rules, "", text, delay)

    def disallowed(self, url: str) -> str | None:
        """Why robots.txt forbids `url`, or None when it may be fetched."""
        robots = self.robots(url)
        if robots.rules is None:
            return robots.why
        if not robots.rules.can_fetch(url, self.ua):
            return "robots.txt disallows it"
        return None

    # -- fetching -----------------------------------------------------------------------------
    def get(self, url: str) -> Fetched:
        """GET `url` politely, following redirects (each hop checked again); FetchError when
        robots.txt, the address guard or the network says no. HTTP errors are returned."""
        for _ in range(self.max_redirects + 1):
            ip = self._guarded(url)  # before robots.txt, as in the crawl: a refused host's
            why = self.disallowed(url)  # robots.txt is not fetched either
            if why:
                raise FetchError(f"{url}: {why}")
            got = self._get(url, ip)
            if got.location is None:
                return got
            url = got.location
        raise FetchError(f"{url}: more than {self.max_redirects} redirects")

    def _guarded(self, url: str) -> str:
        """The address to connect to for `url`, once the guard has allowed it."""
        host = urlsplit(url).hostname or ""
        try:
            return self._address(host)
        except FetchError as exc:
            raise FetchError(f"{url}: {exc}") from None

    def _address(self, host: str) -> str:
        decision = self.policy.decide(host)
        if isinstance(decision, str):
            raise FetchError(f"address guard: {decision}{_ALLOW_HINT}")
        if decision is None:
            literal = ip_literal(host)
            return str(literal) if literal is not None else host
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError) as exc:
            raise FetchError(f"{host} does not resolve ({exc})") from None
        ip = infos[0][4][0]
        refusal = self.policy.refusal(ip_literal(ip))  # type: ignore[arg-type]
        if refusal:
            raise FetchError(f"address guard: {host} resolves to {ip}: {refusal}{_ALLOW_HINT}")
        return ip

    def _wait(self) -> None:
        robots_delay = max((r.delay for r in self._robots.values()), default=0.0)
        pause = max(self.delay or 0.0, robots_delay)
        wait = self._last + pause - time.monotonic()
        if self._last and wait > 0:
            time.sleep(wait)
        self._last = time.monotonic()

    def _get(self, url: str, ip: str | None = None) -> Fetched:
        """One request; a redirect is returned with its target, not followed."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError(f"{url}: not an http(s) URL")
        ip = ip or self._guarded(url)
        conn_class = _PinnedHTTPS if parts.scheme == "https" else _PinnedHTTP
        conn = conn_class(parts.hostname, parts.port, ip, self.timeout)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._wait()
        self.requests.append(url)
        try:
            conn.request("GET", path, headers={"User-Agent": self.ua, "Accept-Encoding": "gzip",
                                               "Accept": "*/*"})
            resp = conn.getresponse()
            body = resp.read(self.max_bytes + 1)
        except (OSError, http.client.HTTPException) as exc:
            raise FetchError(f"{url}: {type(exc).__name__}: {exc}") from None
        finally:
            conn.close()
        if len(body) > self.max_bytes:
            raise FetchError(f"{url}: larger than {self.max_bytes} bytes")
        location = resp.getheader("Location")
        if resp.status in REDIRECT_STATUSES and location:
            return Fetched(url, resp.status, "", b"", urljoin(url, location.strip()))
        try:
            body = _decoded(body, resp.getheader("Content-Encoding", ""), self.max_bytes)
        except (OSError, zlib.error, EOFError) as exc:
            raise FetchError(f"{url}: broken compressed body ({exc})") from None
        return Fetched(url, resp.status, resp.getheader("Content-Type", ""), body)


def _decoded(body: bytes, encoding: str, max_bytes: int) -> bytes:
    encoding = encoding.strip().lower()
    if encoding in ("gzip", "x-gzip"):
        out = gzip.GzipFile(fileobj=io.BytesIO(body)).read(max_bytes + 1)
    elif encoding == "deflate":
        out = zlib.decompressobj().decompress(body, max_bytes + 1)
    else:
        return body
    if len(out) > max_bytes:
        raise OSError(f"decompresses beyond {max_bytes} bytes")
    return out
