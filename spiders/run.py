"""Run one source's crawl for one data interval, in its own process, and judge it by its stats.

Scrapy's reactor cannot restart inside one process, so every crawl is `python -m scrapy crawl`.
Its exit code says nothing (0 even when every request failed): the StatsDump extension writes the
stats and this module fails the crawl itself. Output goes to
`{data_dir}/raw/source={name}/window={start}_{end}/` (named by data, never by run): articles.jsonl,
rejects.jsonl, fetched.jsonl (crawl-memory rows, recorded by the warehouse load only for what it
loaded), crawl.log and, written last, stats.json: a window without stats.json is incomplete.
The figures returned hold the crawl's books: listed = items + rejected + known_skipped
(docs/crawling.md).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from contracts.dates import utc as _utc
from contracts.fsutil import replace_dir, sweep, work_dir
from contracts.layout import window_dir
from contracts.schema import CRAWL_FIELDS
from contracts.settings import REPO_ROOT, Settings
from spiders.items import REJECT_FIELDS
from spiders.sources import Source, load_sources

log = logging.getLogger(__name__)


class CrawlError(RuntimeError):
    pass


class NothingToCrawl(CrawlError):
    """The window cannot hold an article whatever is retried (the replica's clock is earlier)."""


def crawl(
    source: str,
    start: str | datetime,
    end: str | datetime,
    *,
    sources_file: str | Path,
    data_dir: str | Path,
    export_known: Callable[[Path], bool] | None = None,
    settings: Settings | None = None,
    max_failed_share: float = 0.2,
) -> dict[str, Any]:
    """Crawl `source` for [start, end); return the crawl's figures; raise CrawlError on failure.

    `export_known(path)` writes what earlier runs fetched (the crawl memory, JSON, exported from
    the warehouse by the caller) into the crawl's folder, or returns False when there is none
    yet: not fetched again unless the site signals a change. `settings`: contact, allowed
    addresses and the replica's handler; this starts a Scrapy process, so without them it reads
    Settings.from_env() once, as every entry point does.
    """
    settings = settings or Settings.from_env()
    start, end = _utc(start), _utc(end)
    if not start < end:
        raise ValueError(f"empty interval: {start} .. {end}")
    src = load_sources(sources_file)[source]
    _refuse_after_replica_clock(src, start, end, settings.replica_handler)
    out = window_dir(data_dir, source, start, end)
    # Everything is written into a hidden work folder and swapped in whole at the end, so two
    # crawls of one window never mix files and a killed crawl leaves the last good one intact.
    out.parent.mkdir(parents=True, exist_ok=True)
    sweep(out.parent)
    work = work_dir(out)
    parts = {name: work / f"{name}.jsonl" for name in ("articles", "rejects", "fetched")}
    scrapy: dict[str, Any] = {
        "FEEDS": {
            # only the schema's crawl fields, and the reject contract's: the items also carry
            # what the crawl memory needs, which fetched.jsonl gets (spiders/pipelines.py)
            parts["articles"].as_uri(): {"format": "jsonlines", "overwrite": True,
                                         "item_classes": ["spiders.items.ArticleItem"],
                                         "fields": list(CRAWL_FIELDS)},
            parts["rejects"].as_uri(): {"format": "jsonlines", "overwrite": True,
                                        "item_classes": ["spiders.items.RejectItem"],
                                        "fields": list(REJECT_FIELDS)},
        },
        "CRAWL_STATS_PATH": str(work / "stats.partial.json"),
        "CRAWL_FETCHED_PATH": str(parts["fetched"]),
        "LOG_FILE": str(work / "crawl.log"),
        "LOG_FILE_APPEND": False,
        **src.scrapy_settings(),
    }
    if settings.allowed_addresses:
        scrapy["ADDRESS_ALLOWLIST"] = list(settings.allowed_addresses)
    if settings.contact and "USER_AGENT" not in scrapy:
        from spiders.settings import USER_AGENT

        scrapy["USER_AGENT"] = USER_AGENT.replace("+https://github.com/nightdesk",
                                                  settings.contact)

    where = f"{src.mode} site"  # "live site", "local site"; a replica says where below
    if src.replica_addr or src.replica:
        scrapy |= _replica_settings(src, settings.replica_handler)
        where = (f"local replica at {src.replica_addr}" if src.replica_addr
                 else "local replica at 127.0.0.1")
    log.info("crawling %s (%s) for [%s, %s)", source, where, start.isoformat(), end.isoformat())
    known = None
    if export_known is not None and export_known(work / "known.json"):
        known = work / "known.json"
    _run_scrapy(src.spider, source, start, end, Path(sources_file), scrapy, work, known)

    partial = work / "stats.partial.json"
    if not partial.exists():
        raise CrawlError(f"crawl of {source} died before writing its stats; "
                         f"see {work / 'crawl.log'}")
    stats = json.loads(partial.read_text(encoding="utf-8"))
    figures = _figures(stats)
    figures.update(source=source, mode=src.mode, where=where, window_dir=str(out),
                   interval_start=start.isoformat(), interval_end=end.isoformat())
    figures["unaccounted"] = figures["listed"] - (
        figures["items"] + figures["rejected"] + figures["known_skipped"])
    if figures["unaccounted"]:  # a URL listed for the window left no row: a bug, said loudly
        log.error("crawl of %s: %d listed URLs ended in neither an article nor a reject",
                  source, figures["unaccounted"])
    _judge(source, figures, max_failed_share, work)  # a failed crawl's folder stays for a look
    stats["nightdesk/mode"] = src.mode
    (work / "stats.json").write_text(json.dumps(stats, indent=1, sort_keys=True),
                                     encoding="utf-8")
    partial.unlink()
    replace_dir(work, out)
    log.info("crawl figures: %s", json.dumps(figures, sort_keys=True))
    return figures


def _refuse_after_replica_clock(src: Source, start: datetime, end: datetime,
                                handler: str | None) -> None:
    """The bundled replica is frozen at its clock: a later window (the nightly schedule of
    `make ui` runs today's) can hold no article, and must not pass as a quiet empty night."""
    if not src.replica or src.replica_addr:
        return
    from scrapy.utils.misc import load_object

    if not handler or importlib.util.find_spec(handler.split(".", 1)[0]) is None:
        return  # none named or not installed: _replica_settings says so
    # the clock of the handler the crawl would load (named by a setting, never imported here)
    now = src.replica_now or load_object(handler).DEFAULT_NOW
    if start >= now:
        raise NothingToCrawl(
            f"{src.name} is the bundled replica, frozen at {now.isoformat()}: the window "
            f"[{start.isoformat()}, {end.isoformat()}) is after its clock and can hold no "
            "article. Run the demo windows (make run) or a backfill over 2022-01 instead, or "
            "use sources/live.toml")


def _replica_settings(src: Source, replica_handler: str | None) -> dict[str, Any]:
    """Route the source's hosts to a server on this machine: `replica_addr` (tests: fault
    servers, dead ports), or `replica = true`, the bundled demo replica, which the download
    handler named by NIGHTDESK_REPLICA_HANDLER starts inside the crawl (never imported here:
    the demo and the tests name it, the package does not know the replica)."""
    from spiders.discovery import hosts
    from spiders.spiders.hooks import hooks_for

    routed = hosts([*src.discovery_urls, *hooks_for(src.discovery_urls).change_feeds])
    if src.replica_addr:
        handler = "spiders.replica_routing.ReplicaRoutingHandler"
        addr = src.replica_addr
    else:
        handler = replica_handler or ""
        if not handler or importlib.util.find_spec(handler.split(".", 1)[0]) is None:
            raise CrawlError(f"source {src.name!r} says replica = true, but no demo replica is "
                             "installed: it ships with the repository, not the package, and "
                             "NIGHTDESK_REPLICA_HANDLER names its download handler (make run and "
                             f"bin/airflow set it; now {handler!r})")
        addr = "127.0.0.1"  # the address guard lets the replica's loopback address through
    settings: dict[str, Any] = {
        "REPLICA_ADDR": addr,
        "REPLICA_HOSTS": routed,
        "DOWNLOAD_HANDLERS": {"http": handler, "https": handler},
    }
    if src.replica_now is not None and not src.replica_addr:
        settings["REPLICA_NOW"] = src.replica_now.isoformat()
    return settings


def _run_scrapy(spider: str, source: str, start: datetime, end: datetime, sources_file: Path,
                settings: dict[str, Any], out: Path, known: Path | None) -> None:
    cmd = [sys.executable, "-m", "scrapy", "crawl", spider,
           "-a", f"source={source}", "-a", f"start={start.isoformat()}",
           "-a", f"end={end.isoformat()}", "-a", f"sources_file={sources_file.resolve()}"]
    if known is not None:
        cmd += ["-a", f"known_file={known}"]
    for key, value in settings.items():
        if isinstance(value, list):  # Scrapy's getlist splits strings on commas
            value = ",".join(value)
        elif isinstance(value, dict):  # ...and getdict reads JSON
            value = json.dumps(value)
        cmd += ["-s", f"{key}={value}"]
    env = dict(os.environ, SCRAPY_SETTINGS_MODULE="spiders.settings")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or "").strip().splitlines()[-20:]
        raise CrawlError(f"scrapy crawl {spider} exited {proc.returncode}:\n" + "\n".join(tail))


def _figures(stats: dict[str, Any]) -> dict[str, Any]:
    def n(key: str) -> int:
        return int(stats.get(key, 0) or 0)

    return {
        "finish_reason": stats.get("finish_reason"),
        "requests": n("downloader/request_count"),
        "responses": n("downloader/response_count"),
        "discovery_requests": n("nightdesk/discovery_requests"),
        "discovery_failed": n("nightdesk/discovery_failed"),
        "article_requests": n("nightdesk/article_requests"),
        "article_failed": n("nightdesk/article_failed"),
        "article_robots": n("nightdesk/article_robots"),
        "pages_fetched": n("nightdesk/article_requests") - n("nightdesk/article_failed")
        - n("nightdesk/article_robots"),
        "parse_failed": n("nightdesk/parse_failed"),
        "out_of_window": n("nightdesk/out_of_window"),
        "not_article": n("nightdesk/not_article"),
        "max_urls_hit": n("nightdesk/max_urls_hit"),
        "max_sitemap_depth_hit": n("nightdesk/max_sitemap_depth_hit"),
        "items": n("nightdesk/articles"),
        "listed": n("nightdesk/listed"),
        "rejected": n("nightdesk/rejected"),
        "rejected_by_reason": {k.rsplit("/", 1)[1]: v for k, v in stats.items()
                               if k.startswith("nightdesk/rejected/")},
        "retries_given_up": n("retry/max_reached"),
        "retry_after_honoured": n("nightdesk/retry_after_honoured"),
        "retry_after_refused": n("nightdesk/retry_after_refused"),
        "timeouts": n("downloader/exception_type_count/"
                      "scrapy.exceptions.DownloadTimeoutError"),
        "robots_unavailable": n("nightdesk/robots_unavailable"),
        "crawl_delay": {k.rsplit("/", 1)[1]: v for k, v in stats.items()
                        if k.startswith("nightdesk/crawl_delay/")},
        "guard_refused": n("nightdesk/guard_refused"),
        "redirect_loops": n("nightdesk/redirect_loops"),
        "offsite_redirects": n("nightdesk/offsite_redirects"),
        "offsite_filtered": n("offsite/filtered"),
        "encoding_rejected": n("nightdesk/encoding_rejected"),
        "too_large": n("nightdesk/too_large"),
        "requests_dropped": n("nightdesk/requests_dropped"),
        "new_requested": n("nightdesk/article_requests_new"),
        "changed_requested": n("nightdesk/article_requests_changed"),
        "known_skipped": n("nightdesk/known_skipped"),
        "retries": n("retry/count"),
        "robots_blocked": n("robotstxt/forbidden"),
        "errors": n("log_count/ERROR"),
    }


def _cause(out: Path) -> str:
    """The first failed feed, sitemap or page in a crawl's rejects, as ": URL: why" (a person
    reading a failed run needs the status and the URL, not only a count)."""
    rejects = out / "rejects.jsonl"
    lines = rejects.read_text(encoding="utf-8").splitlines() if rejects.exists() else []
    for line in lines:
        row = json.loads(line)
        if row.get("stage") not in ("discovery", "fetch") or row.get("reason") in (
                "robots", "offsite", "url_too_long", "max_urls"):
            continue
        why = str(row.get("detail") or row.get("reason") or "").removeprefix("IgnoreRequest: ")
        if row.get("reason") == "guard_refused" or why.startswith("address guard"):
            why += " (NIGHTDESK_ALLOWED_ADDRESSES lists addresses to allow)"
        return f": {row.get('url')}: {why}"
    return ""


def _document_failures(out: Path, limit: int = 3) -> str:
    """The first failed discovery documents, "URL (detail)", from the crawl's rejects."""
    path = out / "rejects.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()] if path.exists() else []
    failed = [f"{r['url']} ({r.get('detail') or r.get('reason')})" for r in rows
              if r.get("stage") == "discovery" and r.get("reason") not in ("offsite",
                                                                           "url_too_long",
                                                                           "max_urls")]
    more = f" and {len(failed) - limit} more" if len(failed) > limit else ""
    return "; ".join(failed[:limit]) + more


def _judge(source: str, f: dict[str, Any], max_failed_share: float, out: Path) -> None:
    """Fail loudly: a crawl that could not discover, or lost too many pages, must not look fine."""
    log_hint = f"(log: {out / 'crawl.log'})"
    if f["finish_reason"] != "finished":
        raise CrawlError(f"crawl of {source} ended with {f['finish_reason']!r} {log_hint}")
    if f["responses"] == 0:
        if f["guard_refused"]:
            raise CrawlError(
                f"crawl of {source}: the address guard refused all {f['guard_refused']} requests "
                f"(a local or private address? allow it with NIGHTDESK_ALLOWED_ADDRESSES): "
                f"{_document_failures(out)} {log_hint}")
        raise CrawlError(f"crawl of {source} got no response at all: is the site up? {log_hint}")
    if f["discovery_failed"]:
        raise CrawlError(
            f"crawl of {source}: {f['discovery_failed']} of {f['discovery_requests']} feed/sitemap "
            f"requests failed, so articles may be missing: {_document_failures(out)} {log_hint}"
        )
    # A request the scheduler dropped calls no errback: its URL would otherwise leave no trace.
    lost = f["article_failed"] + f["parse_failed"] + f["requests_dropped"]
    tried = f["article_requests"] - f["article_robots"]  # robots.txt-forbidden: never requested
    if tried and lost / tried > max_failed_share:
        raise CrawlError(
            f"crawl of {source}: {lost} of {tried} article pages failed to fetch "
            f"or parse (limit {max_failed_share:.0%}){_cause(out)} {log_hint}"
        )
