"""URL identity: one tracking-parameter list, one registrable-domain function, two keys.

- `listing_key`: the identity of a URL the crawl lists (feeds and sitemaps name one page with and
  without `?utm_source=rss`): the URL without tracking parameters and fragment, scheme and host
  lower-cased, otherwise as given (so a site's own ids derived from it stay stable).
- `canonical_key`: the ETL's dedupe key (the `url_key` field): also without scheme, www/m/amp
  host variants, AMP paths, trailing slashes, with the remaining parameters sorted.
The stored `url` stays the site's own canonical URL.
"""

from __future__ import annotations

import functools
import re
from functools import cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Parameters that say who sent the reader, never which page: dropped from every key.
TRACKING = re.compile(
    r"^(utm_\w+|fbclid|gclid|dclid|gbraid|wbraid|msclkid|yclid|igshid|mc_cid|mc_eid|_ga|_gl|"
    r"ref|ref_src|ref_url|cmpid|cmp|ito|itm_\w+|ns_\w+|at_\w+|wt_\w+|s_cid|ocid|share|"
    r"smid|sr_share|taid|tracking|ncid|soc_src|soc_trk|__twitter_impression)$",
    re.IGNORECASE,
)
# Mobile and AMP variants of a host or path that serve the same article.
_MOBILE_HOST = re.compile(r"^(m|mobile|amp|www)\.", re.IGNORECASE)
_AMP_PATH = re.compile(r"(/amp/?$|/amp(?=/)|\.amp(?=\.html?$|$))", re.IGNORECASE)
_SLASHES = re.compile(r"/{2,}")


@cache
def _suffixes():  # tldextract with its bundled public-suffix snapshot: no network, no cache dir
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def registrable_domain(host: str) -> str:
    """The domain a registrant owns: 'www.zdf.de' -> 'zdf.de', 'm.paper.co.uk' -> 'paper.co.uk'
    (public suffix list); under a name the list does not know (.example, .test, .local) the last
    two labels; an IP address or a single label as given, lower-cased."""
    host = (host or "").lower().rstrip(".")
    parts = _suffixes()(host)
    if parts.domain and parts.suffix:
        return f"{parts.domain}.{parts.suffix}"
    if not host or host.replace(".", "").isdigit() or ":" in host:  # IPv4 / IPv6 literals
        return host
    return ".".join(host.split(".")[-2:])


def strip_tracking(url: str) -> str:
    """The URL without fragment and tracking parameters, the rest byte for byte as given."""
    parts = urlsplit(url.strip())
    kept = [p for p in parts.query.split("&") if p and not TRACKING.match(p.split("=", 1)[0])]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "&".join(kept), ""))


def listing_key(url: str) -> str:
    """The identity of a listed URL: the same page listed by a feed with `?utm_source=rss` and
    by a sitemap without it is fetched once."""
    parts = urlsplit(strip_tracking(url))
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/",
                       parts.query, ""))


@functools.lru_cache(maxsize=4096)  # a batch holds a few hosts, each in thousands of URLs
def _host(host: str) -> str:
    host = host.lower().rstrip(".")
    while _MOBILE_HOST.match(host) and host.count(".") >= 2:
        host = _MOBILE_HOST.sub("", host, count=1)
    return host


def canonical_key(url: str) -> str:
    """scheme-less, www/m/amp-less host, no tracking params, no fragment, no trailing slash,
    remaining query parameters sorted."""
    parts = urlsplit(url.strip())
    host = _host(parts.hostname or "")
    if parts.port and parts.port not in (80, 443):
        host = f"{host}:{parts.port}"
    path = _AMP_PATH.sub("", parts.path or "/") or "/"
    path = _SLASHES.sub("/", path)
    if len(path) > 1:
        path = path.rstrip("/")
    if not parts.query:  # most article URLs: no parameters to parse, sort and encode
        return urlunsplit(("", host, path, "", "")).lstrip("/")
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if not TRACKING.match(k) and k.lower() not in ("amp", "outputtype")]
    return urlunsplit(("", host, path, urlencode(sorted(query)), "")).lstrip("/")
