"""URL canonicalisation: one key per article URL, whatever tracking, scheme or variant it came with.

`canonical_key` is for comparing and deduplicating URLs; the stored `url` stays the site's own
canonical URL. `choose_canonical` honours a page's <link rel="canonical"> only while it stays on
the same site (a canonical pointing elsewhere is a syndication hint, not an identity).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

_TRACKING = re.compile(
    r"^(utm_\w+|fbclid|gclid|dclid|gbraid|wbraid|msclkid|yclid|igshid|mc_cid|mc_eid|_ga|_gl|"
    r"ref|ref_src|ref_url|cmpid|cmp|ito|itm_\w+|ns_\w+|at_\w+|wt_\w+|s_cid|ocid|share|"
    r"smid|sr_share|taid|tracking|ncid|soc_src|soc_trk|__twitter_impression)$",
    re.IGNORECASE,
)
# Mobile and AMP variants of a host or path that serve the same article.
_MOBILE_HOST = re.compile(r"^(m|mobile|amp|www)\.", re.IGNORECASE)
_AMP_PATH = re.compile(r"(/amp/?$|/amp(?=/)|\.amp(?=\.html?$|$))", re.IGNORECASE)


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
    path = re.sub(r"/{2,}", "/", path)
    if len(path) > 1:
        path = path.rstrip("/")
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if not _TRACKING.match(k) and k.lower() not in ("amp", "outputtype")]
    return urlunsplit(("", host, path, urlencode(sorted(query)), "")).lstrip("/")


def same_site(a: str, b: str) -> bool:
    """Registered-domain-ish comparison: the last two labels (three for e.g. co.uk)."""

    def site(url: str) -> str:
        labels = _host(urlsplit(url).hostname or "").split(".")
        keep = 3 if len(labels) >= 3 and len(labels[-2]) <= 3 and len(labels[-1]) == 2 else 2
        return ".".join(labels[-keep:])

    return site(a) == site(b) != ""


def choose_canonical(page_url: str, declared: str | None) -> str:
    """The page's declared canonical when it stays on the site, else the URL it was fetched at
    (with tracking parameters and the fragment removed)."""
    if declared:
        candidate = urljoin(page_url, declared.strip())
        if candidate.startswith(("http://", "https://")) and same_site(page_url, candidate):
            return strip_tracking(candidate)
    return strip_tracking(page_url)


def strip_tracking(url: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if not _TRACKING.match(k)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))
