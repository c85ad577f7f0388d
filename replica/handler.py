"""The demo's way in: a Scrapy download handler that runs the replica inside the crawl.

NIGHTDESK_REPLICA_HANDLER names it (the checkout sets it: the Makefile, bin/airflow, the tests) and
spiders/run.py loads it for a source with `replica = true`; no shipped module names it, and the
installed package does not ship replica/. The replica starts on 127.0.0.1 at a free port when the
crawl opens and stops when it closes; the source's hosts (REPLICA_HOSTS) are sent to it,
everything else goes out untouched (and the address guard refuses it: a replica crawl stays local).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from replica.server import DEFAULT_NOW, ReplicaServer
from spiders.replica_routing import ReplicaRoutingHandler


class ReplicaDownloadHandler(ReplicaRoutingHandler):
    DEFAULT_NOW = DEFAULT_NOW  # the replica's clock, for spiders/run.py's refusal of later windows

    def __init__(self, crawler: Any) -> None:
        super().__init__(crawler)
        now = crawler.settings.get("REPLICA_NOW")
        kwargs = {"now": datetime.fromisoformat(now)} if now else {}
        self._server = ReplicaServer(**kwargs).start()
        self._target = f"127.0.0.1:{self._server.port}"

    async def close(self) -> None:
        await super().close()
        self._server.stop()
