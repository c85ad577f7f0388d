"""Serve the replica until Ctrl-C: `python -m replica --port 8080 [--now ISO]`."""

from __future__ import annotations

import argparse
import signal
import threading
from datetime import datetime
from pathlib import Path

from replica.content import DEFAULT_SEED, SeedPath
from replica.server import DEFAULT_NOW, STATIC_HOST, WWW_HOST, ReplicaServer


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a UTC offset, e.g. +03:00")
    return moment


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m replica", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--now", type=_moment, default=DEFAULT_NOW, help="the replica's clock (ISO 8601)"
    )
    parser.add_argument("--articles-dir", type=Path, default=None)
    seed = parser.add_mutually_exclusive_group()
    seed.add_argument("--seed", type=Path, default=None, help="seed article file")
    seed.add_argument("--no-seed", action="store_true", help="do not serve the seed article")
    args = parser.parse_args(argv)

    seed_path: SeedPath = None if args.no_seed else (args.seed or DEFAULT_SEED)
    server = ReplicaServer(
        now=args.now,
        articles_dir=args.articles_dir,
        seed_path=seed_path,
        host=args.host,
        port=args.port,
    ).start()
    port = server.port
    print(
        f"Moscow Times replica on {server.base_url}  "
        f"(now {server.now.isoformat()}, {len(server.site.visible)} of "
        f"{len(server.articles)} articles published)\n"
        f"  a bare {server.base_url}/ is the www host, e.g. {server.base_url}/rss/news\n"
        f"  pick a host:  curl -H 'Host: {STATIC_HOST}' {server.base_url}/sitemap/sitemap.xml\n"
        f"  or resolve:   curl --resolve {WWW_HOST}:{port}:{args.host} "
        f"http://{WWW_HOST}:{port}/robots.txt\n"
        "Ctrl-C to stop.",
        flush=True,
    )
    stopping = threading.Event()
    # `kill` (SIGTERM) from a supervisor stops as cleanly as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        while not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    print("replica stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
