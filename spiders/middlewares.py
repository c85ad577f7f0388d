"""Downloader middlewares: the safety and politeness rules Scrapy does not have on its own.

Wired in spiders/settings.py (DOWNLOADER_MIDDLEWARES); every counter is a crawl stat prefixed
`nightdesk/`, so spiders/run.py can report what happened to every URL.

- AddressGuardMiddleware (60): refuses loopback, private, link-local, multicast and reserved
  addresses, checked on the address the connection would really use, before connecting.
- PoliteRobotsTxtMiddleware (100): robots.txt that answers 5xx/429 or cannot be fetched means
  "disallow all for this run"; Crawl-delay is honoured.
- PoliteRetryMiddleware (550): Retry-After honoured (capped); exponential backoff otherwise.
- EncodingCheckMiddleware (575): an HTML page that is not valid in its declared encoding is
  rejected instead of being parsed into U+FFFD mojibake.
- SizeLimitMiddleware (590): HttpCompressionMiddleware that also counts pages over
  DOWNLOAD_MAXSIZE (compressed or streamed), which Scrapy only logs.
- RedirectPolicyMiddleware (610): redirect loops and off-site or forbidden-address redirects
  are refused at the 3xx with a reason (Scrapy would drop them silently when scheduling, so the
  URL would vanish from the crawl's accounting).
- DropAccounting (an extension): counts requests the scheduler drops as duplicates.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from time import monotonic
from typing import Any, Final
from urllib.parse import urldefrag, urljoin, urlsplit

from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.httpcompression import HttpCompressionMiddleware
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import DownloadCancelledError, IgnoreRequest
from scrapy.http import HtmlResponse, Response
from scrapy.settings import BaseSettings
from scrapy.statscollectors import StatsCollector
from scrapy.utils.asyncio import sleep
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.response import response_status_message
from twisted.internet.defer import Deferred
from w3lib.url import safe_url_string

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str], Awaitable[str]]

REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
NOT_BEFORE: Final = "nightdesk_not_before"  # request.meta: monotonic time a retry may go out


def _stat(stats: StatsCollector, key: str, n: int = 1) -> None:
    stats.inc_value(f"nightdesk/{key}", n)


# --------------------------------------------------------------------------- address policy


def address_class(ip: IPAddress) -> str | None:
    """Why `ip` is not a public unicast address ("loopback", "private", ...); None when it is."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback too
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        # e.g. 100.64.0.0/10 (carrier-grade NAT): neither private nor reachable from outside
        ("non-global", not ip.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Addresses or CIDR networks ("10.0.0.5", "192.168.1.0/24"); a typo fails loudly."""
    return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in values if v.strip())


def ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


class _Lookup:
    """Marker: only the resolved address can decide."""


LOOKUP: Final = _Lookup()


async def reactor_resolve(host: str) -> str:
    """The address the download will use: Scrapy's caching resolver installed on the reactor.

    The connection resolves through the same cache, so a DNS answer that changes between this
    check and the connection (rebinding) does not slip past the guard.
    """
    from twisted.internet import reactor

    return await maybe_deferred_to_future(reactor.resolve(host))  # type: ignore[attr-defined]


class AddressPolicy:
    """Which hosts a crawl may connect to.

    Allowed: the hosts a source routes to its replica (their address is the replica's), the
    replica's own address, and NIGHTDESK_ALLOWED_ADDRESSES. Everything else must be a public
    unicast address; in replica mode nothing else is allowed at all, so a replica crawl never
    leaves the machine (and never even asks DNS).
    """

    def __init__(self, settings: BaseSettings, resolve: Resolver = reactor_resolve) -> None:
        self.allowed = parse_networks(settings.getlist("ADDRESS_ALLOWLIST"))
        self.replica_addr: str | None = settings.get("REPLICA_ADDR") or None
        self.routed: frozenset[str] = frozenset()
        if self.replica_addr:
            self.routed = frozenset(h.lower() for h in settings.getlist("REPLICA_HOSTS"))
            replica_ip = ip_literal(self.replica_addr.rsplit(":", 1)[0])
            if replica_ip is not None:
                self.allowed += (ipaddress.ip_network(replica_ip),)
        self._resolve = resolve

    def refusal(self, ip: IPAddress) -> str | None:
        if any(ip in net for net in self.allowed):
            return None
        kind = address_class(ip)
        if kind is not None:
            return f"{ip} is a {kind} address this source does not allow"
        if self.replica_addr:
            return f"{ip} is not the replica at {self.replica_addr} (a replica crawl stays local)"
        return None

    def decide(self, host: str) -> str | _Lookup | None:
        """A refusal reason, None when allowed, or LOOKUP when the resolved address decides."""
        host = host.lower()
        if host in self.routed:
            return None
        ip = ip_literal(host)
        if ip is not None:
            return self.refusal(ip)
        if self.replica_addr:
            return f"{host} is not routed to the replica at {self.replica_addr}"
        return LOOKUP

    async def check(self, host: str) -> str | None:
        decision = self.decide(host)
        if not isinstance(decision, _Lookup):
            return decision
        try:
            ip = ipaddress.ip_address(await self._resolve(host))
        except Exception:  # unresolvable: let the download report the DNS error itself
            return None
        reason = self.refusal(ip)
        return f"{host} resolves to {ip}: {reason}" if reason else None


class AddressGuardMiddleware:
    """Refuse a request before any connection when its host's address is not allowed.

    Placed right after OffsiteMiddleware (50), so off-site hosts are never even resolved, and
    before RobotsTxtMiddleware (100), so a refused host's robots.txt is not fetched either.
    """

    def __init__(self, policy: AddressPolicy, stats: StatsCollector) -> None:
        self.policy = policy
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AddressGuardMiddleware:
        return cls(AddressPolicy(crawler.settings), crawler.stats)

    async def process_request(self, request: Request) -> None:
        host = urlparse_cached(request).hostname or ""
        reason = await self.policy.check(host)
        if reason is not None:
            _stat(self.stats, "guard_refused")
            log.warning("address guard refused %s: %s", request.url, reason)
            raise IgnoreRequest(f"address guard: {reason}")


# --------------------------------------------------------------------------- redirects


class RedirectPolicyMiddleware:
    """Refuse bad redirects at the 3xx, with a reason the spider's errback records.

    Sits above RedirectMiddleware (600), so it sees the 3xx first. Without it, a redirect loop
    ends in the dupefilter and an off-site redirect in OffsiteMiddleware's scheduling hook, both
    silently: the URL gets neither an article nor a reject. Checks, in order: a loop; an
    off-site host name (refused as such, never resolved); then the address guard's rules for IP
    literals and on-site hosts (so a redirect to 127.0.0.2 is the guard's refusal). The off-site
    check ignores dont_filter on purpose: retried requests carry dont_filter=True, and a retry
    must not open the door to an off-site redirect.
    """

    def __init__(self, crawler: Crawler, policy: AddressPolicy) -> None:
        self.crawler = crawler
        self.policy = policy

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RedirectPolicyMiddleware:
        return cls(crawler, AddressPolicy(crawler.settings))

    def _on_site(self, url: str) -> bool:
        """The spider's site scope (hosts with ports, spiders/urls.py), else its host names."""
        spider = self.crawler.spider
        scope = getattr(spider, "scope", None)
        if scope is not None:
            return url in scope
        host = (urlsplit(url).hostname or "").lower()
        domains = [d.lower() for d in getattr(spider, "allowed_domains", None) or []]
        return not domains or any(host == d or host.endswith("." + d) for d in domains)

    def _not_followed(self, request: Request, response: Response) -> bool:
        """RedirectMiddleware's own opt-outs: a 3xx the spider handles itself is not a hop."""
        meta = request.meta
        return bool(
            meta.get("dont_redirect") or meta.get("handle_httpstatus_all")
            or response.status in meta.get("handle_httpstatus_list", ())
            or response.status in getattr(self.crawler.spider, "handle_httpstatus_list", ())
        )

    def process_response(self, request: Request, response: Response) -> Response:
        location = response.headers.get(b"Location")
        if response.status not in REDIRECT_STATUSES or not location or self._not_followed(
                request, response):
            return response
        if location.startswith(b"//"):  # scheme-relative, as RedirectMiddleware reads it
            location = urlparse_cached(request).scheme.encode() + b":" + location
        target = urljoin(request.url, safe_url_string(location))
        stats = self.crawler.stats
        chain = [*request.meta.get("redirect_urls", []), request.url]
        if urldefrag(target).url in {urldefrag(u).url for u in chain}:
            _stat(stats, "redirect_loops")
            raise IgnoreRequest(f"redirect loop: {request.url} -> {target}")
        host = (urlsplit(target).hostname or "").lower()
        literal = ip_literal(host) is not None
        if not literal and not request.meta.get("allow_offsite") and not self._on_site(target):
            _stat(stats, "offsite_redirects")
            raise IgnoreRequest(f"redirect to off-site host {host!r}: {target}")
        # An IP literal, or an on-site host: the address guard's rules (a host name that only
        # its resolved address can judge is left to AddressGuardMiddleware, before connecting).
        decision = self.policy.decide(host)
        if isinstance(decision, str):
            _stat(stats, "guard_refused")
            log.warning("address guard refused redirect %s -> %s: %s", request.url, target,
                        decision)
            raise IgnoreRequest(f"address guard: redirect to {target}: {decision}")
        if literal and not request.meta.get("allow_offsite") and not self._on_site(target):
            _stat(stats, "offsite_redirects")
            raise IgnoreRequest(f"redirect to off-site host {host!r}: {target}")
        return response


# --------------------------------------------------------------------------- retries


def parse_retry_after(value: bytes | str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent
    or unreadable (then the ordinary backoff applies)."""
    if value is None:
        return None
    text = (value.decode("latin-1") if isinstance(value, bytes) else value).strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class PoliteRetryMiddleware(RetryMiddleware):
    """RetryMiddleware that waits before retrying.

    - Retry-After (429/503...) is honoured: the retry, and every other request to that host
      (the server said it is overloaded), waits at least that long. Above
      RETRY_AFTER_MAX the request is given up at once: waiting an hour is not an
      option in a nightly run, and retrying earlier than asked would be rude.
    - Without Retry-After, retries back off exponentially: RETRY_BACKOFF_BASE s, then
      twice that, ... (capped at RETRY_AFTER_MAX). Scrapy retries at once.

    The wait happens in process_request, so the request holds one of CONCURRENT_REQUESTS while
    it waits; fine for one site per crawl.
    """

    def __init__(self, settings: BaseSettings) -> None:
        super().__init__(settings)
        self.retry_after_max = settings.getfloat("RETRY_AFTER_MAX", 60.0)
        self.backoff = settings.getfloat("RETRY_BACKOFF_BASE", 1.0)
        self._host_paused_until: dict[str, float] = {}

    def _backoff(self, retry: Request) -> float:
        attempt = int(retry.meta.get("retry_times", 1))
        return min(self.backoff * 2 ** (attempt - 1), self.retry_after_max)

    async def process_request(self, request: Request) -> None:
        host = urlparse_cached(request).hostname or ""
        until = max(float(request.meta.get(NOT_BEFORE, 0.0)),
                    self._host_paused_until.get(host, 0.0))
        wait = until - monotonic()
        if wait > 0:
            _stat(self.crawler.stats, "retry_waits")
            await sleep(wait)

    def process_response(self, request: Request, response: Response) -> Request | Response:
        if request.meta.get("dont_retry") or response.status not in self.retry_http_codes:
            return response
        retry_after = parse_retry_after(response.headers.get(b"Retry-After"))
        stats = self.crawler.stats
        if retry_after is not None and retry_after > self.retry_after_max:
            _stat(stats, "retry_after_refused")
            log.warning("gave up %s: HTTP %d asks to retry after %.0f s, above the %.0f s cap",
                        request.url, response.status, retry_after, self.retry_after_max)
            return response
        retry = self._retry(request, response_status_message(response.status))
        if retry is None:
            return response
        if retry_after is None:
            delay = self._backoff(retry)
        else:
            _stat(stats, "retry_after_honoured")
            delay = retry_after
            host = urlparse_cached(request).hostname or ""
            paused = self._host_paused_until.get(host, 0.0)
            self._host_paused_until[host] = max(paused, monotonic() + delay)
        retry.meta[NOT_BEFORE] = monotonic() + delay
        return retry

    def process_exception(self, request: Request, exception: Exception) -> Request | None:
        retry = super().process_exception(request, exception)
        if isinstance(retry, Request):
            retry.meta[NOT_BEFORE] = monotonic() + self._backoff(retry)
            return retry
        return None


# --------------------------------------------------------------------------- robots.txt


class RefusedHost:
    """Stands in for a robots.txt parser when a host's rules could not be obtained."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def allowed(self, url: str | bytes, user_agent: str | bytes) -> bool:
        return False


class PoliteRobotsTxtMiddleware(RobotsTxtMiddleware):
    """RobotsTxtMiddleware with two policies Scrapy lacks.

    robots.txt unavailable: a 5xx or 429 answer (after retries), or no answer at all (timeout,
    refused, dropped), means "disallow everything on that host for this run", as Google treats
    it: the site may be shielding itself, and crawling blind ignores rules we could not read.
    Scrapy's default is to allow everything. A 4xx other than 429 still means "no rules".
    Each URL refused this way is counted in robotstxt/forbidden and nightdesk/robots_unavailable;
    for feeds and sitemaps it is a discovery failure, which fails the crawl.

    Crawl-delay: honoured by raising the host's download slot delay to it (with no random
    jitter below it) and re-clamping after AutoThrottle adjusts it. A delay above
    CRAWL_DELAY_MAX is treated like a refusal: we cannot wait that long per page in
    a nightly run, and crawling faster than asked is not an option.
    """

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.max_crawl_delay = crawler.settings.getfloat("CRAWL_DELAY_MAX", 60.0)
        self._crawl_delays: dict[str, float] = {}  # download slot key (host name) -> seconds
        crawler.signals.connect(self._response_downloaded, signal=signals.response_downloaded)

    def _useragent(self) -> str:
        return self._robotstxt_useragent or self._default_useragent

    def _refuse_host(self, netloc: str, reason: str) -> None:
        log.warning("robots.txt policy: refusing every URL of %s for this run: %s", netloc,
                    reason)
        pending = self._parsers[netloc]
        refused = RefusedHost(reason)
        self._parsers[netloc] = refused  # type: ignore[assignment]
        if isinstance(pending, Deferred) and not pending.called:
            pending.callback(refused)

    async def _parse_robots(self, response: Response, netloc: str, request: Request) -> None:
        if response.status >= 500 or response.status == 429:
            self._stats.inc_value("robotstxt/response_count")
            self._stats.inc_value(f"robotstxt/response_status_count/{response.status}")
            self._refuse_host(netloc, f"robots.txt answered HTTP {response.status}")
            return
        # Requests already waiting for this host's rules must get the final decision (which
        # may refuse the host over its Crawl-delay), not the raw parser the base class fires
        # its Deferred with; so the base class fires a private Deferred that decides first.
        waiters = self._parsers[netloc]
        private: Deferred[Any] = Deferred()
        private.addCallback(self._decide, netloc, request)
        private.addCallback(_relay, waiters)
        self._parsers[netloc] = private
        await super()._parse_robots(response, netloc, request)

    def _decide(self, rp: Any, netloc: str, request: Request) -> Any:
        crawl_delay = getattr(rp, "crawl_delay", None)
        delay = crawl_delay(self._useragent()) if callable(crawl_delay) else None
        if delay and delay > self.max_crawl_delay:
            rp = RefusedHost(f"robots.txt asks for Crawl-delay {delay:g} s, above the "
                             f"{self.max_crawl_delay:g} s this crawl can honour")
            log.warning("robots.txt policy: refusing every URL of %s: %s", netloc, rp.reason)
        elif delay:
            host = urlparse_cached(request).hostname or ""
            self._crawl_delays[host] = float(delay)
            self._stats.set_value(f"nightdesk/crawl_delay/{host}", float(delay))
        self._parsers[netloc] = rp
        return rp

    def _robots_error(self, exc: Exception, netloc: str) -> None:
        if isinstance(exc, IgnoreRequest):  # we declined to fetch it (guard, off-site redirect)
            super()._robots_error(exc, netloc)
            return
        self._stats.inc_value(f"robotstxt/exception_count/{type(exc)}")
        self._refuse_host(netloc, f"robots.txt unreachable ({type(exc).__name__}: {exc})")

    def process_request_2(self, rp: Any, request: Request) -> None:
        if isinstance(rp, RefusedHost):
            self._stats.inc_value("robotstxt/forbidden")
            _stat(self._stats, "robots_unavailable")
            raise IgnoreRequest(f"robots.txt policy: {rp.reason}")
        super().process_request_2(rp, request)
        self._apply_crawl_delay(request)

    # -- Crawl-delay ------------------------------------------------------------------------
    def _apply_crawl_delay(self, request: Request) -> None:
        host = urlparse_cached(request).hostname or ""
        delay = self._crawl_delays.get(host)
        engine = self.crawler.engine
        if delay is None or engine is None:
            return
        downloader = engine.downloader
        key = downloader.get_slot_key(request)
        # A slot re-created after Scrapy garbage-collects idle slots starts from these settings.
        floor = max(delay, self.crawler.settings.getfloat("DOWNLOAD_DELAY"))
        downloader.per_slot_settings.setdefault(key, {}).update(delay=floor, jitter=0.0)
        self._crawl_delays.setdefault(key, delay)
        slot = downloader.slots.get(key)
        if slot is not None:
            _clamp(slot, delay)

    def _response_downloaded(self, response: Response, request: Request, spider: Any) -> None:
        # AutoThrottle (an extension, so connected to this signal first) may just have lowered
        # the slot's delay below the Crawl-delay.
        key = request.meta.get("download_slot")
        engine = self.crawler.engine
        if key in self._crawl_delays and engine is not None:
            slot = engine.downloader.slots.get(key)
            if slot is not None:
                _clamp(slot, self._crawl_delays[key])


def _relay(result: Any, waiters: Any) -> Any:
    if isinstance(waiters, Deferred) and not waiters.called:
        waiters.callback(result)
    return result


def _clamp(slot: Any, delay: float) -> None:
    """Make the slot's shortest possible delay (delay minus jitter) at least `delay`."""
    slot.delay = max(slot.delay, delay)
    if slot.delay * (1 - slot.jitter) < delay:
        slot.jitter = 0.0


# --------------------------------------------------------------------------- page content


class EncodingCheckMiddleware:
    """Reject an HTML page whose bytes are not valid in the encoding it declares.

    Scrapy decodes with errors="replace", so a cp1251 page labelled utf-8 would reach the parser
    as U+FFFD soup and be stored as a plausible-looking but corrupt article. The encoding is
    the one Scrapy would use (BOM first, then Content-Type, then <meta>), so a correct BOM
    rescues a wrong label. Placed below HttpCompressionMiddleware (590): it sees the
    decompressed body. Feeds and sitemaps (XML) are left to the recovering XML parser.
    """

    def __init__(self, stats: StatsCollector) -> None:
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> EncodingCheckMiddleware:
        return cls(crawler.stats)

    def process_response(self, request: Request, response: Response) -> Response:
        if not isinstance(response, HtmlResponse) or response.status != 200:
            return response
        encoding = response.encoding
        try:
            response.body.decode(encoding)
        except LookupError:  # an encoding w3lib knows and Python does not: let Scrapy cope
            return response
        except UnicodeDecodeError as exc:
            _stat(self.stats, "encoding_rejected")
            raise IgnoreRequest(
                f"page is not valid {encoding} as declared: undecodable bytes at offset "
                f"{exc.start} of {len(response.body)}"
            ) from None
        return response


class SizeLimitMiddleware(HttpCompressionMiddleware):
    """HttpCompressionMiddleware (which already enforces DOWNLOAD_MAXSIZE on the DEcompressed
    size, so a gzip bomb stops at the limit) plus a counter, nightdesk/too_large, and a clear
    reason for every page refused for its size.

    The download handler cancels a body over DOWNLOAD_MAXSIZE with DownloadCancelledError: with
    a message when Content-Length announced it, with none when the body grew past the limit
    while streaming. Both become IgnoreRequest("page over DOWNLOAD_MAXSIZE ..."). The handler
    cancels downloads for no other reason (timeouts are DownloadTimeoutError).
    """

    def process_response(self, request: Request, response: Response) -> Response:
        try:
            return super().process_response(request, response)
        except IgnoreRequest:
            _stat(self.stats, "too_large")
            raise

    def process_exception(self, request: Request, exception: Exception) -> None:
        if not isinstance(exception, DownloadCancelledError):
            return
        message = str(exception)
        if message and "max size" not in message:
            return
        _stat(self.stats, "too_large")
        limit = request.meta.get("download_maxsize", self._max_size)
        detail = message or "the body grew past it while streaming"
        raise IgnoreRequest(f"page over DOWNLOAD_MAXSIZE ({limit} B): {detail}") from exception


# --------------------------------------------------------------------------- accounting


class DropAccounting:
    """Extension: count (and log) requests the scheduler drops, e.g. as duplicates.

    A dropped request calls no errback, so its URL would otherwise leave no trace at all.
    """

    def __init__(self, stats: StatsCollector) -> None:
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DropAccounting:
        ext = cls(crawler.stats)
        crawler.signals.connect(ext.request_dropped, signal=signals.request_dropped)
        return ext

    def request_dropped(self, request: Request, spider: Any) -> None:
        _stat(self.stats, "requests_dropped")
        log.warning("request dropped by the scheduler (duplicate?): %s", request.url)
