"""Every fault the suite injects: how the server misbehaves, and what the crawl must make of it.

A fault is served for one article URL (`.../2022/01/31/{slug}-a{ID}`); `Expect` is the outcome
the crawl owes that URL: an article row, or a reject row with a stage and a reason, and how many
requests may reach the server for it (retries included).
"""

from __future__ import annotations

import gzip
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Literal

from spiders.settings import DOWNLOAD_MAXSIZE
from tests.faults.pages import WWW, Article, article_page
from tests.faults.server import Exchange

MIB = 1024 * 1024
# Sources cannot lower DOWNLOAD_MAXSIZE (10 MiB), so the oversized pages are really that big,
# streamed from memory as fast as the client reads.
OVERSIZE = DOWNLOAD_MAXSIZE + MIB
_TOO_LARGE = rf"IgnoreRequest: page over DOWNLOAD_MAXSIZE \({DOWNLOAD_MAXSIZE} B\): "
BOMB_SIZE = 64 * MIB  # decompressed; about 64 KiB on the wire
RETRY_AFTER = 2  # seconds, for the honoured 429
CYRILLIC = "Ёлки-палки, сказал Пётр."
CHINESE = "莫斯科时报报道 €"


@dataclass(frozen=True)
class Expect:
    outcome: Literal["article", "reject", "ignored"]  # ignored: the spider never requests it
    stage: str | None = None  # fetch | parse, for rejects
    reason: str = ""  # a regex the reject's reason must match
    requests: int | None = None  # requests reaching the fault server for this URL


@dataclass(frozen=True)
class Context:
    """What a handler may need besides the request."""

    article: Article
    sentinel_port: int


Serve = Callable[[Exchange, Context], None]


@dataclass(frozen=True)
class Fault:
    name: str
    serve: Serve
    expect: Expect
    text: str = ""  # extra body text of the article

    @property
    def slug(self) -> str:
        return self.name.replace("_", "-")


# --------------------------------------------------------------------------- building blocks


def _page(ctx: Context, charset: str = "utf-8") -> bytes:
    return article_page(ctx.article, charset).encode("utf-8")


def ok(ex: Exchange, ctx: Context) -> None:
    ex.respond(200, _page(ctx))


def _then_ok(first: Serve) -> Serve:
    def serve(ex: Exchange, ctx: Context) -> None:
        (first if ex.attempt == 1 else ok)(ex, ctx)

    return serve


def _status(status: int, **headers: str) -> Serve:
    def serve(ex: Exchange, ctx: Context) -> None:
        ex.respond(status, b"<html><body>error</body></html>", **headers)

    return serve


def _redirect(location: Callable[[Context], str]) -> Serve:
    def serve(ex: Exchange, ctx: Context) -> None:
        ex.respond(301, b"", Location=location(ctx))

    return serve


@cache
def _noise(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


@cache
def _bomb() -> bytes:
    return gzip.compress(b"\0" * BOMB_SIZE, compresslevel=9)


# --------------------------------------------------------------------------- the faults


def hang_before_headers(ex: Exchange, ctx: Context) -> None:
    ex.hang()


def hang_after_headers(ex: Exchange, ctx: Context) -> None:
    body = _page(ctx)
    ex.send(ex.head(200, {"Content-Type": "text/html; charset=utf-8",
                          "Content-Length": str(len(body))}) + body[:200])
    ex.hang()


def drop_connection(ex: Exchange, ctx: Context) -> None:
    pass  # read the request, answer nothing, close


def content_length_too_long(ex: Exchange, ctx: Context) -> None:
    body = _page(ctx)
    ex.send(ex.head(200, {"Content-Type": "text/html; charset=utf-8",
                          "Content-Length": str(len(body) + 50_000)}) + body)


def content_length_too_short(ex: Exchange, ctx: Context) -> None:
    body = _page(ctx)  # only the first 300 bytes count: <head> without the article
    ex.send(ex.head(200, {"Content-Type": "text/html; charset=utf-8",
                          "Content-Length": "300"}) + body)


def not_http(ex: Exchange, ctx: Context) -> None:
    ex.send(_noise(2048, 1))


def garbage_body(ex: Exchange, ctx: Context) -> None:
    ex.respond(200, _noise(4096, 2))


def binary_body(ex: Exchange, ctx: Context) -> None:
    ex.respond(200, _noise(4096, 3), "application/octet-stream")


def junk_html(ex: Exchange, ctx: Context) -> None:
    ex.respond(200, b"<html><body><p>Lorem ipsum, not an article.</p></body></html>")


def empty_body(ex: Exchange, ctx: Context) -> None:
    ex.respond(200, b"")


def oversize_declared(ex: Exchange, ctx: Context) -> None:
    ex.send(ex.head(200, {"Content-Type": "text/html; charset=utf-8",
                          "Content-Length": str(OVERSIZE)}))
    _stream(ex, OVERSIZE, chunked=False)


def oversize_streamed(ex: Exchange, ctx: Context) -> None:
    ex.send(ex.head(200, {"Content-Type": "text/html; charset=utf-8",
                          "Transfer-Encoding": "chunked"}))
    _stream(ex, OVERSIZE, chunked=True)


def _stream(ex: Exchange, size: int, *, chunked: bool) -> None:
    """`size` bytes from memory, as fast as the client takes them; stops when it hangs up."""
    block = b"<p>" + b"x" * (64 * 1024 - 7) + b"</p>"
    sent = 0
    while sent < size:
        data = (f"{len(block):x}\r\n".encode() + block + b"\r\n") if chunked else block
        if not ex.send(data):
            return
        sent += len(block)
    if chunked:
        ex.send(b"0\r\n\r\n")


def gzip_bomb(ex: Exchange, ctx: Context) -> None:
    ex.respond(200, _bomb(), Content_Encoding="gzip")


def cp1251_labelled_utf8(ex: Exchange, ctx: Context) -> None:
    ex.respond(200, article_page(ctx.article, "utf-8").encode("cp1251"))


def utf16_with_bom(ex: Exchange, ctx: Context) -> None:
    # Labelled utf-8 in header and <meta>; the BOM is right and wins (as in browsers).
    ex.respond(200, article_page(ctx.article, "utf-8").encode("utf-16"))


def utf8_bom_labelled_latin1(ex: Exchange, ctx: Context) -> None:
    body = b"\xef\xbb\xbf" + article_page(ctx.article, "iso-8859-1").encode("utf-8")
    ex.respond(200, body, "text/html; charset=iso-8859-1")


def gb18030_labelled_gb2312(ex: Exchange, ctx: Context) -> None:
    # gb2312 cannot encode the euro sign; WHATWG (and w3lib) read gb2312 as gb18030 anyway.
    body = article_page(ctx.article, "gb2312").encode("gb18030")
    ex.respond(200, body, "text/html; charset=gb2312")


def redirect_to_canonical(ex: Exchange, ctx: Context) -> None:
    if ex.path == ctx.article.path:
        ok(ex, ctx)
    else:
        ex.respond(301, b"", Location=ctx.article.url)


def redirect_loop(ex: Exchange, ctx: Context) -> None:
    a = ctx.article
    other = a.path.replace("redirect-loop-", "redirect-loop-b-") if "-b-" not in ex.path \
        else a.path
    ex.respond(301, b"", Location=WWW + other)


FAULTS: tuple[Fault, ...] = (
    Fault("retry_503_then_200", _then_ok(_status(503)), Expect("article", requests=2)),
    Fault("permanent_500", _status(500),
          Expect("reject", "fetch", r"^http_500: HTTP 500$", requests=2)),
    Fault("retry_after_429_then_200", _then_ok(_status(429, Retry_After=str(RETRY_AFTER))),
          Expect("article", requests=2)),
    Fault("retry_after_429_too_long", _status(429, Retry_After="3600"),
          Expect("reject", "fetch", r"^http_429: HTTP 429$", requests=1)),
    Fault("not_found_404", _status(404),
          Expect("reject", "fetch", r"^http_404: HTTP 404$", requests=1)),
    Fault("hang_before_headers", hang_before_headers,
          Expect("reject", "fetch", r"^timeout: DownloadTimeoutError", requests=2)),
    Fault("hang_after_headers", hang_after_headers,
          Expect("reject", "fetch", r"^timeout: DownloadTimeoutError", requests=2)),
    Fault("dropped_connection", drop_connection,
          Expect("reject", "fetch", r"ResponseNeverReceived|DownloadFailedError", requests=2)),
    Fault("content_length_too_long", content_length_too_long,
          Expect("reject", "fetch", r"ResponseDataLossError", requests=2)),
    Fault("content_length_too_short", content_length_too_short,
          Expect("reject", "parse", r"^not_article: ", requests=1)),
    Fault("not_http", not_http, Expect("reject", "fetch", r"DownloadFailedError", requests=2)),
    Fault("garbage_body", garbage_body,
          Expect("reject", "fetch", r"not valid utf-8 as declared", requests=1)),
    Fault("binary_body", binary_body,
          Expect("reject", "parse", r"^not_article: not a text page", requests=1)),
    Fault("junk_html", junk_html, Expect("reject", "parse", r"^not_article: ", requests=1)),
    Fault("empty_body", empty_body,
          Expect("reject", "parse", r"^not_article: empty page", requests=1)),
    Fault("oversize_declared", oversize_declared,
          Expect("reject", "fetch", rf"{_TOO_LARGE}Expected to receive {OVERSIZE} bytes",
                 requests=1)),
    Fault("oversize_streamed", oversize_streamed,
          Expect("reject", "fetch", rf"{_TOO_LARGE}the body grew past it while streaming",
                 requests=1)),
    Fault("gzip_bomb", gzip_bomb,
          Expect("reject", "fetch", r"IgnoreRequest: .*exceeded DOWNLOAD_MAXSIZE .* during "
                 r"decompression", requests=1)),
    Fault("cp1251_labelled_utf8", cp1251_labelled_utf8,
          Expect("reject", "fetch", r"not valid utf-8 as declared", requests=1), text=CYRILLIC),
    Fault("utf16_with_bom", utf16_with_bom, Expect("article", requests=1), text=CYRILLIC),
    Fault("utf8_bom_labelled_latin1", utf8_bom_labelled_latin1, Expect("article", requests=1),
          text=CYRILLIC + " café"),
    Fault("gb18030_labelled_gb2312", gb18030_labelled_gb2312, Expect("article", requests=1),
          text=CHINESE),
    Fault("redirect_to_canonical", redirect_to_canonical, Expect("article", requests=2)),
    Fault("redirect_loop", redirect_loop,
          Expect("reject", "fetch", r"^redirect_loop: IgnoreRequest: redirect loop: ", requests=2)),
    Fault("redirect_offsite", _redirect(lambda c: "https://evil.example.com" + c.article.path),
          Expect("reject", "fetch", r"redirect to off-site host 'evil.example.com'",
                 requests=1)),
    Fault("redirect_to_other_loopback",
          _redirect(lambda c: f"http://127.0.0.2:{c.sentinel_port}{c.article.path}"),
          Expect("reject", "fetch", r"address guard: redirect to .*127\.0\.0\.2 is a loopback "
                 r"address", requests=1)),
    Fault("redirect_unrouted_host",
          _redirect(lambda c: "https://cdn.themoscowtimes.com" + c.article.path),
          Expect("reject", "fetch", r"address guard: redirect to https://cdn\.themoscowtimes\.com/"
                 r".*: cdn\.themoscowtimes\.com is not routed to the replica", requests=1)),
    # The next three are never served: a link the feed lists elsewhere, or robots.txt.
    Fault("link_unrouted_host", ok,
          Expect("reject", "fetch", r"address guard: cdn\.themoscowtimes\.com is not routed",
                 requests=0)),
    Fault("link_other_loopback", ok,
          Expect("reject", "discovery", r"^offsite: not under the source's sites", requests=0)),
    Fault("robots_disallowed", ok,
          Expect("reject", "fetch", r"Forbidden by robots\.txt", requests=0)),
)
BY_NAME = {f.name: f for f in FAULTS}


def listed_url(fault: Fault, article: Article, sentinel_port: int) -> str:
    """The URL the feed lists for a fault's article."""
    if fault.name == "redirect_to_canonical":
        return article.url.replace(f"/{article.slug}-a", "/an-older-slug-a")
    if fault.name == "link_unrouted_host":
        return "https://cdn.themoscowtimes.com" + article.path
    if fault.name == "link_other_loopback":
        return f"http://127.0.0.2:{sentinel_port}{article.path}"
    return article.url
