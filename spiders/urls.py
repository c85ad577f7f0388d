"""URL canonicalisation: one key per article URL, whatever tracking, scheme or variant it came with.

`canonical_key` is for comparing and deduplicating URLs; the stored `url` stays the site's own
canonical URL.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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


# -- which URLs belong to a source's site ---------------------------------------------------------
# A site is a host (without `www.`) and a port; the scheme does not matter, and a port that is the
# scheme's default is no port at all (http://x:80 and https://x are the same site). Scrapy's own
# check (url_is_from_any_domain, OffsiteMiddleware) compares host names only and drops entries with
# a port, so a site served on 127.0.0.1:8080 would be off-site or everything on 127.0.0.1 on-site.

_DEFAULT_PORTS = {80, 443}


def site_entry(value: str) -> str:
    """`host`, `host:port` or a full URL as one allowed_domains entry: "host" or "host:port",
    lower-case, without `www.` and without a default port. Raises ValueError when it names no
    host."""
    text = value.strip()
    parts = urlsplit(text if "://" in text else f"//{text}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{value!r} has an invalid port") from None
    host = (parts.hostname or "").lower().rstrip(".")
    if not host or (parts.path not in ("", "/") and "://" not in text):
        raise ValueError(f"{value!r} is not a host, host:port or URL")
    if host.startswith("www.") and host.count(".") >= 2:
        host = host[4:]
    if ":" in host:  # an IPv6 literal keeps its brackets, so the port stays readable
        host = f"[{host}]"
    return f"{host}:{port}" if port and port not in _DEFAULT_PORTS else host


def _split_entry(entry: str) -> tuple[str, int | None]:
    host, sep, port = entry.rpartition(":")
    if not sep or host.endswith(("[", ":")) or not port.isdigit() or (
            "[" in entry and not host.endswith("]")):
        host, port = entry, ""
    return host.strip("[]"), (int(port) if port else None)


class SiteScope:
    """The hosts (with ports) a source's crawl may follow links to."""

    def __init__(self, entries: list[str] | tuple[str, ...]) -> None:
        self.entries = tuple(dict.fromkeys(site_entry(e) for e in entries))
        self._parsed = [_split_entry(e) for e in self.entries]

    def __contains__(self, url: str) -> bool:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
        try:
            port = parts.port
        except ValueError:
            return False
        port = None if port in _DEFAULT_PORTS else port
        return bool(host) and any(
            port == want_port and (host == want or host.endswith("." + want))
            for want, want_port in self._parsed)

    @property
    def hosts(self) -> list[str]:
        """The host names alone (what Scrapy's allowed_domains can take)."""
        return list(dict.fromkeys(host for host, _ in self._parsed))

    def __repr__(self) -> str:
        return f"SiteScope({list(self.entries)})"
