"""A one-source sources file that routes The Moscow Times' hosts to a fault server."""

from __future__ import annotations

from pathlib import Path

FEED = "https://www.themoscowtimes.com/rss/news"
NEWSMAP = "https://static.themoscowtimes.com/sitemap/newsmap.xml"


def write_fault_sources(path: Path, addr: str, *, download_timeout: float = 2.0,
                        retry_times: int = 1) -> Path:
    """No delay or AutoThrottle (loopback), a short timeout so hangs cost seconds, one retry.

    No sitemap_index: the news sitemaps cover the window, so the spider never needs it.
    """
    path.write_text(
        "[[source]]\n"
        'name = "moscowtimes"\n'
        'spider = "moscowtimes"\n'
        f'feeds = ["{FEED}"]\n'
        f'newsmap = "{NEWSMAP}"\n'
        f'replica_addr = "{addr}"\n'
        "[source.politeness]\n"
        "download_delay = 0.0\n"
        "autothrottle = false\n"
        "concurrent_requests_per_domain = 8\n"
        f"retry_times = {retry_times}\n"
        f"download_timeout = {download_timeout:g}\n",
        encoding="utf-8",
    )
    return path
