"""Send a site's real https URLs to a local replica, so tests and the demo crawl real HTTP offline.

Installed as the http/https download handler only when a source says `replica = true`
(spiders/run.py sets REPLICA_ADDR). Requests keep their real URL through every
middleware (robots.txt, offsite, redirects, stats) and responses come back under that URL, so the
lake stores the site's real canonical https URLs. Hosts not listed go out untouched.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from scrapy import Request
from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.http import Response


class ReplicaRoutingHandler(HTTP11DownloadHandler):
    def __init__(self, crawler) -> None:
        super().__init__(crawler)
        self._target = crawler.settings.get("REPLICA_ADDR")
        self._hosts = {h.lower() for h in crawler.settings.getlist("REPLICA_HOSTS")}

    async def download_request(self, request: Request) -> Response:
        parts = urlsplit(request.url)
        host = (parts.hostname or "").lower()
        if not self._target or host not in self._hosts:
            return await super().download_request(request)
        local = request.replace(
            url=urlunsplit(("http", self._target, parts.path or "/", parts.query, "")),
        )
        local.headers[b"Host"] = host.encode()
        response = await super().download_request(local)
        return response.replace(url=request.url, request=request)
