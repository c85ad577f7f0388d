"""Fault injection: real crawls of a misbehaving Moscow Times look-alike (tests/faults) through
crawl(), the real spider and every middleware; then unit tests of the policies behind them.

Three crawls run at once in one module fixture (about 15 s wall clock):
- main: every fault of tests/faults/catalog.py beside 100 good articles, under the 20 % failure
  limit: the crawl succeeds, every URL ends as exactly one article or one reject with a reason;
- robots_5xx: www's robots.txt answers 503: nothing else on www is fetched, discovery fails;
- over_limit: 2 of 6 article pages fail: the crawl fails on the share.
No request leaves 127.0.0.0/8: the replica routing sends the site's hosts to the fault server,
and the address guard refuses everything else (the sentinel on 127.0.0.2 proves it connected
nowhere it was not allowed).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from ipaddress import ip_address
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from scrapy import Request
from scrapy.core.downloader import Slot
from scrapy.exceptions import IgnoreRequest
from scrapy.robotstxt import ProtegoRobotParser
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler

from spiders.middlewares import (
    AddressGuardMiddleware,
    AddressPolicy,
    PoliteRobotsTxtMiddleware,
    RefusedHost,
    _clamp,
    address_class,
    parse_retry_after,
)
from spiders.run import CrawlError, crawl
from tests.faults.catalog import FAULTS, RETRY_AFTER
from tests.faults.config import write_fault_sources
from tests.faults.pages import WINDOW
from tests.faults.server import FaultServer, Hit, sentinel
from tests.faults.site import STATIC_HOST, WWW_HOST, FaultSite
from tests.sites.accounting import assert_accounted

GOOD_ARTICLES = 100  # enough that the catalog's failures stay under the 20 % limit
CRAWL_DELAY = 1.0  # static's robots.txt
BACKOFF = 1.0  # RETRY_BACKOFF_BASE: the first retry without Retry-After waits this long
# Scrapy spaces the *sending* of requests; their arrival at the server can come a few ms closer
# (the first one also paid for connection setup).
ARRIVAL_JITTER = 0.05
CRAWL_TIMEOUT = 120  # seconds; the crawls take ~15 s together, this only bounds a broken run
_ID = re.compile(r"-a(\d+)(?:$|[/?#])")


# --------------------------------------------------------------------------- the crawls


@dataclass
class Run:
    site: FaultSite
    server: FaultServer
    data_dir: Path
    figures: dict[str, Any] | None = None
    error: CrawlError | None = None

    @property
    def published(self) -> Path | None:
        """The window folder, which spiders/run.py swaps into place only for a good crawl."""
        return next((self.data_dir / "raw").glob("source=*/window=*"), None)

    @property
    def folder(self) -> Path:
        """The published window, else the work folder a failed crawl leaves behind for a look."""
        return self.published or next((self.data_dir / "raw").glob("source=*/.tmp-window=*"))

    def _file(self, *names: str) -> Path:
        found = [self.folder / n for n in names if (self.folder / n).exists()]
        if not found:
            raise FileNotFoundError(f"none of {names} in {self.folder}")
        return found[0]

    def rows(self, kind: str) -> list[dict[str, Any]]:
        path = self._file(f"{kind}.jsonl")
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]

    def stats(self) -> dict[str, Any]:
        path = self._file("stats.json", "stats.partial.json")
        return json.loads(path.read_text(encoding="utf-8"))

    def rows_for(self, kind: str, article_id: int) -> list[dict[str, Any]]:
        return [r for r in self.rows(kind) if _url_id(r["url"]) == article_id]

    def hits_for(self, article_id: int) -> list[Hit]:
        return [h for h in self.server.hits(WWW_HOST) if _url_id(h.path) == article_id]


def _url_id(url: str) -> int | None:
    match = _ID.search(url)
    return int(match.group(1)) if match else None


def _run(run: Run) -> Run:
    sources = write_fault_sources(run.data_dir / "sources.toml", run.server.addr)
    try:
        run.figures = crawl("moscowtimes", *WINDOW, sources_file=sources, data_dir=run.data_dir)
    except CrawlError as exc:
        run.error = exc
    return run


@pytest.fixture(scope="module")
def other_loopback() -> Iterator[FaultServer]:
    """127.0.0.2: an address no test source allows."""
    with sentinel("127.0.0.2") as server:
        yield server


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory,
         other_loopback: FaultServer) -> dict[str, Run]:
    port = other_loopback.port
    sites = {
        "main": FaultSite([f.name for f in FAULTS], GOOD_ARTICLES, sentinel_port=port,
                          static_crawl_delay=CRAWL_DELAY),
        "robots_5xx": FaultSite([], 3, sentinel_port=port, www_robots_status=503),
        "over_limit": FaultSite(["not_found_404", "permanent_500"], 4, sentinel_port=port),
    }
    pool = ThreadPoolExecutor(max_workers=len(sites))
    with ExitStack() as stack:
        stack.callback(pool.shutdown)  # runs last: after the servers stop, every crawl ends
        runs = {
            name: Run(site, stack.enter_context(FaultServer(site.router)),
                      tmp_path_factory.mktemp(name))
            for name, site in sites.items()
        }
        _done, late = wait([pool.submit(_run, run) for run in runs.values()],
                           timeout=CRAWL_TIMEOUT)
    assert not late, f"{len(late)} fault crawl(s) overran {CRAWL_TIMEOUT} s"
    return runs  # servers stopped; their request logs stay readable


@pytest.fixture(scope="module")
def main(runs: dict[str, Run]) -> Run:
    run = runs["main"]
    assert run.error is None, f"the main fault crawl must succeed: {run.error}"
    return run


# --------------------------------------------------------------------------- main crawl


def test_main_crawl_succeeds_and_accounts_for_every_article(main: Run) -> None:
    f = main.figures
    assert f is not None and f["finish_reason"] == "finished"
    # all but the link to another host, rejected as off-site before any request
    requested = [e for e in main.site.entries.values() if e.fault.expect.stage != "discovery"]
    assert f["article_requests"] == len(requested)
    assert f["article_requests"] == (f["items"] + f["article_failed"] + f["article_robots"]
                                     + f["parse_failed"]
                                     + f["not_article"] + f["out_of_window"])
    assert_accounted(main.folder)
    assert f["retries"] > 0 and f["robots_blocked"] == 1
    stats = main.stats()
    assert stats.get("nightdesk/requests_dropped", 0) == 0  # nothing vanished in the scheduler
    # stats.json counts every way a URL may end besides an article
    assert stats["nightdesk/guard_refused"] == 3
    assert stats["nightdesk/redirect_loops"] == 1
    assert stats["nightdesk/offsite_redirects"] == 1
    assert stats["nightdesk/encoding_rejected"] == 2
    assert stats["nightdesk/too_large"] == 3
    assert stats["nightdesk/retry_after_honoured"] == 1
    assert stats["nightdesk/retry_after_refused"] == 1
    assert stats["retry/max_reached"] >= 6  # given up after retries


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
def test_fault_outcome(main: Run, fault: Any) -> None:
    entry = main.site.by_fault(fault.name)
    article, expect = entry.article, fault.expect
    articles = main.rows_for("articles", article.id)
    rejects = main.rows_for("rejects", article.id)
    if expect.outcome == "article":
        assert rejects == []
        assert len(articles) == 1
        row = articles[0]
        assert row["article_id"] == article.article_id and row["url"] == article.url
        assert row["title"] == article.title
        assert row["body"] == "\n\n".join(article.paragraphs)  # decoded right, to the letter
    elif expect.outcome == "reject":
        assert articles == []
        assert len(rejects) == 1, rejects
        assert rejects[0]["stage"] == expect.stage
        said = f"{rejects[0]['reason']}: {rejects[0]['detail']}"  # the slug, then the words
        assert re.search(expect.reason, said), said
    else:
        assert articles == [] and rejects == []
    if expect.requests is not None:
        assert len(main.hits_for(article.id)) == expect.requests


def test_no_bad_row_is_stored(main: Run) -> None:
    want = {e.article.article_id for e in main.site.entries.values()
            if e.fault.expect.outcome == "article"}
    rows = main.rows("articles")
    assert sorted(r["article_id"] for r in rows) == sorted(want)  # each once, nothing else
    for row in rows:
        text = json.dumps(row, ensure_ascii=False)
        assert "\ufffd" not in text and "\ufeff" not in text, row["url"]
    rejects = main.rows("rejects")
    want_rejects = [e for e in main.site.entries.values() if e.fault.expect.outcome == "reject"]
    assert len(rejects) == len(want_rejects)
    assert all(r["reason"] and r["stage"] in {"fetch", "parse", "discovery"} for r in rejects)


def test_retry_after_is_honoured_and_capped(main: Run) -> None:
    honoured = main.hits_for(main.site.by_fault("retry_after_429_then_200").article.id)
    assert honoured[1].at - honoured[0].at >= RETRY_AFTER
    too_long = main.hits_for(main.site.by_fault("retry_after_429_too_long").article.id)
    assert len(too_long) == 1  # Retry-After: 3600 is above the cap: given up, not retried


@pytest.mark.parametrize("name", ["retry_503_then_200", "permanent_500", "dropped_connection",
                                  "hang_before_headers"])
def test_retries_back_off(main: Run, name: str) -> None:
    hits = main.hits_for(main.site.by_fault(name).article.id)
    assert len(hits) == 2 and hits[1].at - hits[0].at >= BACKOFF


def test_crawl_delay_is_honoured(main: Run) -> None:
    hits = main.server.hits(STATIC_HOST)
    assert [h.path for h in hits][:2] == ["/robots.txt", "/sitemap/newsmap.xml"]
    assert len(hits) >= 4
    gaps = [b.at - a.at for a, b in pairwise(hits)]
    assert min(gaps) >= CRAWL_DELAY - ARRIVAL_JITTER, gaps
    assert main.stats()[f"nightdesk/crawl_delay/{STATIC_HOST}"] == CRAWL_DELAY


def test_guard_refuses_before_connecting(main: Run, other_loopback: FaultServer) -> None:
    assert other_loopback.connections == 0
    assert main.server.hits(host="127.0.0.2") == []


# --------------------------------------------------------------------------- failing crawls


def test_robots_5xx_disallows_the_host_and_fails_discovery(runs: dict[str, Run]) -> None:
    run = runs["robots_5xx"]
    assert run.error is not None
    assert re.search(r"feed/sitemap requests failed", str(run.error))
    # robots.txt was asked twice (one retry) and nothing else on www at all
    assert [h.path for h in run.server.hits(WWW_HOST)] == ["/robots.txt", "/robots.txt"]
    rejects = run.rows("rejects")
    policy = "robots.txt policy: robots.txt answered HTTP 503"
    discovery = {r["url"] for r in rejects if r["stage"] == "discovery"}
    assert {"https://www.themoscowtimes.com/rss/news",
            "https://www.themoscowtimes.com/rss/all"} <= discovery
    assert all(policy in r["detail"] for r in rejects)
    # the good articles the static news sitemaps listed are refused too, each with the reason
    assert {_url_id(r["url"]) for r in rejects if r["stage"] == "fetch"} == {
        e.article.id for e in run.site.good}
    assert run.stats()["nightdesk/robots_unavailable"] == len(rejects)
    assert run.published is None  # nothing published


def test_failure_share_over_the_limit_fails_the_crawl(runs: dict[str, Run]) -> None:
    run = runs["over_limit"]
    assert run.error is not None
    assert "2 of 6 article pages failed to fetch or parse (limit 20%)" in str(run.error)
    assert len(run.rows("articles")) == 4 and len(run.rows("rejects")) == 2
    assert_accounted(run.folder)
    assert run.published is None  # the good articles of a failed crawl are not published


# --------------------------------------------------------------------------- unit: addresses


@pytest.mark.parametrize(("address", "kind"), [
    ("127.0.0.1", "loopback"), ("127.0.0.2", "loopback"), ("::1", "loopback"),
    ("::ffff:127.0.0.1", "loopback"),
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.1", "private"),
    ("fc00::1", "private"),
    ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("224.0.0.1", "multicast"), ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("100.64.0.1", "non-global"),
    ("93.184.216.34", None), ("2606:4700::1111", None),
])
def test_address_class(address: str, kind: str | None) -> None:
    assert address_class(ip_address(address)) == kind


def test_reserved_addresses_are_refused() -> None:
    # 240.0.0.0/4 is both reserved and in Python's private list; refused either way
    assert address_class(ip_address("240.0.0.1")) in {"reserved", "private"}


def _resolver(answers: dict[str, str]):
    async def resolve(host: str) -> str:
        if host not in answers:
            raise AssertionError(f"the policy must not resolve {host}")
        return answers[host]

    return resolve


def _check(policy: AddressPolicy, host: str) -> str | None:
    return asyncio.run(policy.check(host))


LIVE_DNS = {"news.example": "93.184.216.34", "intranet.example": "10.0.0.7",
            "metadata.example": "169.254.169.254"}


def test_live_mode_judges_the_resolved_address() -> None:
    policy = AddressPolicy(Settings(), _resolver(LIVE_DNS))
    assert _check(policy, "news.example") is None
    assert _check(policy, "intranet.example") == ("intranet.example resolves to 10.0.0.7: "
                                                 "10.0.0.7 is a private address this source "
                                                 "does not allow")
    assert "link-local" in (_check(policy, "metadata.example") or "")
    assert "loopback" in (_check(policy, "127.0.0.1") or "")  # literals: no lookup at all


def test_allowed_addresses_setting() -> None:
    settings = Settings({"ADDRESS_ALLOWLIST": ["10.0.0.0/8", "::1"]})
    policy = AddressPolicy(settings, _resolver(LIVE_DNS))
    assert _check(policy, "intranet.example") is None
    assert _check(policy, "::1") is None
    assert _check(policy, "metadata.example") is not None


def test_unresolvable_host_is_left_to_the_download() -> None:
    async def fail(host: str) -> str:
        raise OSError("no such host")

    assert _check(AddressPolicy(Settings(), fail), "nowhere.example") is None


def test_replica_mode_reaches_only_the_replica() -> None:
    settings = Settings({"REPLICA_ADDR": "127.0.0.1:8080",
                         "REPLICA_HOSTS": [WWW_HOST, STATIC_HOST]})
    policy = AddressPolicy(settings, _resolver({}))  # must never resolve
    assert _check(policy, WWW_HOST) is None
    assert _check(policy, "127.0.0.1") is None
    assert "127.0.0.2 is a loopback address" in (_check(policy, "127.0.0.2") or "")
    assert "not the replica" in (_check(policy, "93.184.216.34") or "")
    assert "not routed" in (_check(policy, "cdn.themoscowtimes.com") or "")


def test_guard_middleware_raises_before_the_download() -> None:
    crawler = get_crawler()
    guard = AddressGuardMiddleware(AddressPolicy(Settings(), _resolver(LIVE_DNS)),
                                   crawler.stats)
    assert asyncio.run(guard.process_request(Request("https://news.example/a"))) is None
    with pytest.raises(IgnoreRequest, match=r"address guard: intranet\.example resolves to"):
        asyncio.run(guard.process_request(Request("https://intranet.example/a")))
    assert crawler.stats.get_value("nightdesk/guard_refused") == 1


# --------------------------------------------------------------------------- unit: politeness


def test_parse_retry_after() -> None:
    now = datetime(2022, 1, 31, 12, 0, tzinfo=UTC)
    assert parse_retry_after(b"120") == 120.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True),
                             now=now) == 30.0
    assert parse_retry_after(format_datetime(now - timedelta(hours=1), usegmt=True),
                             now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_clamp_raises_the_shortest_delay_to_the_crawl_delay() -> None:
    slot = Slot(concurrency=2, delay=0.0, jitter=0.5)
    _clamp(slot, 1.0)
    assert (slot.delay, slot.jitter) == (1.0, 0.0)
    slow = Slot(concurrency=2, delay=3.0, jitter=0.5)  # 1.5 s at the least: already enough
    _clamp(slow, 1.0)
    assert (slow.delay, slow.jitter) == (3.0, 0.5)


def _robots_mw() -> PoliteRobotsTxtMiddleware:
    return PoliteRobotsTxtMiddleware(get_crawler(settings_dict={"ROBOTSTXT_OBEY": True}))


def test_crawl_delay_above_the_cap_refuses_the_host() -> None:
    mw = _robots_mw()
    rp = ProtegoRobotParser(b"User-agent: *\nCrawl-delay: 120\n", None)
    decided = mw._decide(rp, "slow.example", Request("https://slow.example/"))
    assert isinstance(decided, RefusedHost) and "Crawl-delay 120 s" in decided.reason
    with pytest.raises(IgnoreRequest, match=r"robots\.txt policy: .*Crawl-delay 120 s"):
        mw.process_request_2(decided, Request("https://slow.example/a"))


def test_crawl_delay_under_the_cap_is_kept() -> None:
    mw = _robots_mw()
    rp = ProtegoRobotParser(b"User-agent: *\nCrawl-delay: 5\n", None)
    assert mw._decide(rp, "ok.example", Request("https://ok.example/")) is rp
    assert mw._crawl_delays == {"ok.example": 5.0}
