"""`nightdesk` as a person meets it: real subprocesses of .venv/bin/nightdesk against a real site
on 127.0.0.1 at a free port (tests/sites/local_site.py, pages from ../shared read at run time).

Usage errors exit 2 in one line; run failures exit 1 with the cause; `nightdesk try` is polite and
writes nothing; and every command of docs/adding-a-site.md runs as shown there.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from spiders.politefetch import Fetched, user_agent
from spiders.sources import parse_sources
from spiders.trysite import extract_page
from tests.conftest import REPO, SHARED
from tests.sites import local_site as site
from tests.sites.news_site import PAGES
from tests.sites.server import Route

# NIGHTDESK_BIN: another installed script (e.g. before the venv is reinstalled)
NIGHTDESK = Path(os.environ.get("NIGHTDESK_BIN") or REPO / ".venv" / "bin" / "nightdesk")
ALLOW = {"NIGHTDESK_ALLOWED_ADDRESSES": "127.0.0.1"}
FAST = "[source.politeness]\ndownload_delay = 0.0\nautothrottle = false\nretry_times = 0\n"


def nightdesk(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None,
              ) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "NIGHTDESK_ALLOWED_ADDRESSES"}
    environ |= {"PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([str(NIGHTDESK), *args], cwd=cwd, env=environ, capture_output=True,
                          text=True, timeout=300)


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.fixture
def server() -> Iterator[site.AgentLoggingServer]:
    with site.local_site(SHARED) as s:
        yield s


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# -- usage errors -------------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "says"), [
    (["run", "--day", "2022-13-45"], "argument --day: '2022-13-45' is not a date: month must be"),
    (["run", "--day", "2022-01-31T15:30"],
     "argument --day: takes a date (YYYY-MM-DD), not '2022-01-31T15:30'"),
    (["run", "--day", "2022-01-31", "--source", "moscowtimse"],
     "no source 'moscowtimse' in SOURCES; did you mean 'moscowtimes'? it has: moscowtimes"),
    (["run", "--start", "2022-02-01T00:00:00+00:00", "--end", "2022-01-01T00:00:00+00:00"],
     "--start 2022-02-01T00:00:00+00:00 is not before --end 2022-01-01T00:00:00+00:00"),
    (["run", "--start", "2022-02-01T02:00", "--end", "2022-02-02T02:00+00:00"],
     "argument --start: '2022-02-01T02:00' needs a UTC offset"),
    (["run", "--start", "2022-02-01T02:00:00+00:00"], "--start needs --end"),
    (["run", "--day", "2022-01-31", "--end", "2022-02-02T02:00+00:00"],
     "--end goes with --start, not with --day"),
    (["run"], "one of the arguments --start --day is required"),
    (["try", "ftp://news.example.com/"], "'ftp://news.example.com/' is not an http(s) URL"),
    (["try", "https://news.example.com/", "--max-pages", "0"],
     "argument --max-pages: takes a whole number of pages >= 1"),
    (["tyr", "https://news.example.com/"], "invalid choice: 'tyr'"),
])
def test_usage_errors_exit_2_with_one_line(tmp_path, sources_file, args, says):
    if args[0] == "run":
        args = [*args, "--sources", str(sources_file), "--data-dir", str(tmp_path / "data")]
    proc = nightdesk(*args)
    assert proc.returncode == 2, proc.stderr
    (line,) = lines(proc.stderr)
    assert line.startswith(f"nightdesk {args[0]}: error: " if args[0] != "tyr"
                           else "nightdesk: error: ")
    assert says.replace("SOURCES", str(sources_file)) in line
    assert proc.stdout == ""
    assert not (tmp_path / "data").exists()  # nothing ran


def test_a_sources_file_that_does_not_validate_is_a_usage_error(tmp_path):
    bad = write(tmp_path / "mine.toml", '[[source]]\nname = "metro"\nspider = "news"\n'
                'feed = ["https://metro.example/rss"]\n[[source]]\nname = "a/b"\n'
                'home = "https://metro.example/"\n')
    proc = nightdesk("run", "--day", "2022-01-31", "--sources", str(bad), "--data-dir",
                     str(tmp_path / "data"))
    assert proc.returncode == 2
    assert lines(proc.stderr) == [
        f"nightdesk run: error: {bad}: source 'metro', key 'feed': unknown key; "
        "did you mean 'feeds'?",
        f"nightdesk run: error: {bad}: source 'a/b', key 'name': 'a/b' is not a slug: use only "
        "letters, digits, '_' and '-' (it names folders, partitions and article ids)",
    ]
    assert not (tmp_path / "data").exists()


# -- run failures -------------------------------------------------------------------------------

def test_a_404_feed_fails_with_its_url_and_status_and_the_log(tmp_path, server):
    sources = write(tmp_path / "s.toml", f'[[source]]\nname = "gone"\n'
                    f'feeds = ["{server.base}/rss-moved.xml"]\n{FAST}')
    args = ("run", "--day", site.DAY, "--sources", str(sources), "--data-dir", str(tmp_path))
    proc = nightdesk(*args, env=ALLOW)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    failed, hint = lines(proc.stderr)
    assert failed.startswith("nightdesk run: failed: CrawlError: crawl of gone: 1 of 1 "
                             "feed/sitemap requests failed")
    assert f": {server.base}/rss-moved.xml (HTTP 404) (log: " in failed
    log = Path(re.search(r"\(log: (.+)\)$", failed).group(1))
    assert log.exists() and "rss-moved.xml" in log.read_text(encoding="utf-8")
    assert hint == "nightdesk run: (--verbose shows the traceback)"

    verbose = nightdesk(*args, "--verbose", env=ALLOW)
    assert verbose.returncode == 1
    assert "Traceback (most recent call last)" in verbose.stderr
    assert "spiders.run.CrawlError" in verbose.stderr and "HTTP 404" in verbose.stderr


def test_any_failure_is_one_line_and_verbose_shows_the_traceback(tmp_path, sources_file):
    not_a_dir = write(tmp_path / "file", "")
    args = ("run", "--day", "2022-01-31", "--sources", str(sources_file), "--data-dir",
            str(not_a_dir))
    quiet = nightdesk(*args)
    assert quiet.returncode == 1
    assert lines(quiet.stderr) == [  # the warehouse is made first (run migrates at its entry)
        f"nightdesk run: failed: FileExistsError: [Errno 17] File exists: '{not_a_dir}'",
        "nightdesk run: (--verbose shows the traceback)"]
    for verbose in (nightdesk("--verbose", *args), nightdesk(*args, "-v")):  # either place
        assert verbose.returncode == 1
        assert "Traceback (most recent call last)" in verbose.stderr  # after the progress log
        assert lines(verbose.stderr)[-1].startswith("nightdesk run: failed: FileExistsError")


def test_an_address_guard_refusal_says_so(tmp_path, server):
    sources = write(tmp_path / "s.toml", f'[[source]]\nname = "mine"\nhome = "{server.base}/"\n'
                    f"{FAST}")
    proc = nightdesk("run", "--day", site.DAY, "--sources", str(sources), "--data-dir",
                     str(tmp_path))  # NIGHTDESK_ALLOWED_ADDRESSES unset
    assert proc.returncode == 1
    failed = lines(proc.stderr)[0]
    assert failed.startswith("nightdesk run: failed: CrawlError: crawl of mine: the address "
                             "guard refused all")
    assert "allow it with NIGHTDESK_ALLOWED_ADDRESSES" in failed
    assert f"{server.base}/" in failed and "(log: " in failed
    assert server.requests() == []  # refused before connecting, robots.txt included


# -- nightdesk try ------------------------------------------------------------------------------

def _suggested_entry(stdout: str) -> str:
    return stdout.split("Suggested entry for your sources file", 1)[1].split("\n", 2)[2]


def test_try_is_polite_prints_the_fields_and_writes_nothing(tmp_path, server):
    proc = nightdesk("try", f"{server.base}/", "--max-pages", "2", "--delay", "0.3",
                     cwd=tmp_path, env=ALLOW)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert list(tmp_path.iterdir()) == []  # writes nothing
    paths = [path for _, path, _ in server.seen]
    assert paths[:2] == ["/robots.txt", "/"]
    assert set(paths[2:4]) == {"/feed.xml", "/news-sitemap.xml"}
    # the two newest listed articles, nothing more; the page robots.txt forbids is not fetched
    assert paths[4:] == [PAGES["cnbc"].path, PAGES["gateway"].path]
    assert {ua for _, _, ua in server.seen} == {user_agent()}
    times = [t for t, _, _ in server.seen]
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.28
    assert "advertised feeds: " + server.base + "/feed.xml" in out
    assert "sitemaps in robots.txt: " + server.base + "/news-sitemap.xml" in out
    assert "7 URLs listed: 1 disallowed by robots.txt, 0 on other hosts" in out
    assert "    title: New Plot Twist in Idaho Quadruple Murders Case" in out
    assert "    authors: Greg Iacurci" in out
    assert ("    published_at: 2023-04-28T18:23:00+00:00 (published_at_from: "
            "jsonld:datePublished)") in out
    assert re.search(r"    body: \d{4} chars: When it comes to cryptocurrency like bitcoin", out)
    entry = _suggested_entry(out)
    assert f'feeds = ["{server.base}/feed.xml"]\nsitemaps = ["{server.base}/news-sitemap.xml"]\n' \
        f'# home = "{server.base}/"' in entry
    src = parse_sources(entry, "suggested.toml")["local-times"]
    assert src.mode == "local" and src.allowed_domains == (server.addr,)


@pytest.mark.parametrize(("path", "key"), [("/feed.xml", "feeds"),
                                           ("/news-sitemap.xml", "sitemaps")])
def test_try_a_feed_or_a_sitemap(server, path, key):
    proc = nightdesk("try", server.base + path, "--max-pages", "1", "--delay", "0", env=ALLOW)
    assert proc.returncode == 0, proc.stderr
    entry = _suggested_entry(proc.stdout)
    assert f'{key} = ["{server.base}{path}"]' in entry
    src = next(iter(parse_sources(entry, "suggested.toml").values()))
    assert getattr(src, key) == (server.base + path,)
    assert [p for _, p, _ in server.seen] == ["/robots.txt", path, PAGES["cnbc"].path]


def test_try_a_non_article_page_says_why(server):
    server.routes["/feed.xml"] = Route(server.routes["/feed.xml"].body.replace(
        b"2023-04-28T12:00:00Z", b"2023-04-29T12:00:00Z"), "application/rss+xml")
    proc = nightdesk("try", server.base + "/feed.xml", "--max-pages", "1", "--delay", "0",
                     env=ALLOW)  # the section front is now the newest entry
    assert proc.returncode == 1
    assert "\n[1] " + server.base + site.SECTION + "\n" in proc.stdout
    assert "    not an article: " in proc.stdout
    assert lines(proc.stderr) == ["nightdesk try: failed: no page fetched was an article"]


def test_try_honours_crawl_delay(server):
    server.routes["/robots.txt"] = Route(b"User-agent: *\nCrawl-delay: 1\n", "text/plain")
    proc = nightdesk("try", server.base + "/feed.xml", "--max-pages", "1", "--delay", "0",
                     env=ALLOW)
    assert proc.returncode == 0, proc.stderr
    times = [t for t, _, _ in server.seen]
    assert len(times) == 3 and min(b - a for a, b in itertools.pairwise(times)) >= 0.95


@pytest.mark.parametrize(("path", "robots", "env", "says"), [
    ("/gone.xml", None, ALLOW, "nightdesk try: failed: {base}/gone.xml answered HTTP 404"),
    (site.PRIVATE, None, ALLOW, "nightdesk try: failed: {base}/private/hidden.html: robots.txt "
                                "disallows it"),
    ("/", Route(b"down", "text/plain", 503), ALLOW,
     "nightdesk try: failed: {base}/: robots.txt answered HTTP 503: the crawl would not fetch "
     "this host"),
    ("/", None, {}, "nightdesk try: failed: {base}/: address guard: 127.0.0.1 is a loopback "
                    "address this source does not allow (NIGHTDESK_ALLOWED_ADDRESSES lists "
                    "addresses to allow)"),
    # every redirect hop meets the guard before any connection
    ("/moved", None, ALLOW, "nightdesk try: failed: http://10.0.0.1/feed.xml: address guard: "
                            "10.0.0.1 is a private address this source does not allow "
                            "(NIGHTDESK_ALLOWED_ADDRESSES lists addresses to allow)"),
])
def test_try_failures_exit_1_with_the_cause(server, path, robots, env, says):
    server.routes["/moved"] = Route(b"", status=302,
                                    headers={"Location": "http://10.0.0.1/feed.xml"})
    if robots is not None:
        server.routes["/robots.txt"] = robots
    proc = nightdesk("try", server.base + path, "--delay", "0", env=env)
    assert proc.returncode == 1
    assert lines(proc.stderr) == [says.format(base=server.base)]
    if path in ("/", site.PRIVATE):  # refused before it was fetched
        assert path not in [p for _, p, _ in server.seen]


def test_try_takes_both_extract_contracts(monkeypatch):
    """extract() raising NotAnArticle (today) and returning `reject_reason` (the contract)."""
    html = (site.build_routes(SHARED, "http://x")[site.SECTION]).body
    got = Fetched("http://x/world/", 200, "text/html; charset=utf-8", html)
    _, reason = extract_page(got, None)
    assert reason  # a section page of links: refused, with the extractor's verdict

    import spiders.extract

    monkeypatch.setattr(spiders.extract, "extract", lambda html, url, timezone=None: {
        "title": "World", "body": "", "reject_reason": "not_article: no body"})
    assert extract_page(got, None)[1] == "not_article: no body"
    monkeypatch.setattr(spiders.extract, "extract", lambda html, url, timezone=None: {
        "title": "World", "body": "text", "reject_reason": None})
    assert extract_page(got, None) == ({"title": "World", "body": "text",
                                        "reject_reason": None}, None)


# -- docs/adding-a-site.md, command by command --------------------------------------------------

def _doc_commands() -> list[tuple[str, list[str]]]:
    """Each `$ ` line of the doc's console blocks with the output lines shown under it."""
    text = (REPO / "docs" / "adding-a-site.md").read_text(encoding="utf-8")
    found: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = line.strip()
            if line.startswith("$ "):
                found.append((line[2:], []))
            elif line and found:
                found[-1][1].append(line)
    return found


@pytest.mark.slow  # two tries and two nights at the default politeness (1 s between requests)
def test_every_command_of_the_adding_a_site_doc(tmp_path, server):
    """The doc's walk-through on a real local site: try, paste the entry, run a night; the mode
    is `local`, and the listed articles land in the lake."""
    doc = (REPO / "docs" / "adding-a-site.md").read_text(encoding="utf-8")
    (toml,) = re.findall(r"```toml\n(.*?)```", doc, re.S)
    assert list(parse_sources(toml, "the doc's entry")) == ["example-news"]
    commands = _doc_commands()
    assert [c.split()[:2] for c, _ in commands] == [
        ["nightdesk", "try"], ["NIGHTDESK_ALLOWED_ADDRESSES=127.0.0.1", "nightdesk"],
        ["nightdesk", "run"], ["nightdesk", "run"], ["nightdesk", "run"], ["nightdesk", "run"]]
    pasted = False
    for command, shown in commands:
        words = shlex.split(command.replace("https://news.example.com", server.base)
                            .replace("http://127.0.0.1:8000", server.base))
        # the test site is on loopback, whatever the doc's URL; data goes to the test's folder
        env = {**ALLOW, "NIGHTDESK_DATA_DIR": str(tmp_path / "data")}
        while "=" in words[0]:
            key, value = words.pop(0).split("=", 1)
            env[key] = value
        assert words[0] == "nightdesk"
        proc = nightdesk(*words[1:], cwd=tmp_path, env=env)
        if shown:  # the doc shows the error a person gets: exactly that, exit 2
            assert proc.returncode == 2, (command, proc.stderr)
            assert lines(proc.stderr) == shown
            continue
        assert proc.returncode == 0, (command, proc.stderr[-3000:])
        if words[1] == "try" and not pasted:
            # "paste the entry", named as in the doc
            entry = re.sub(r'(?m)^name = ".*"$', 'name = "example-news"',
                           _suggested_entry(proc.stdout))
            assert list(parse_sources(entry, "suggested.toml")) == ["example-news"]
            write(tmp_path / "sources" / "mine.toml", entry)
            pasted = True
            assert not (tmp_path / "data").exists()  # try wrote nothing
        if words[1] == "run":
            assert "crawled example-news (local) from the local site: " in proc.stderr
    assert pasted
    db = sqlite3.connect(tmp_path / "data" / "warehouse.db")
    modes = db.execute("SELECT DISTINCT source, mode FROM runs").fetchall()
    assert modes == [("example-news", "local")]
    urls = ds.dataset(tmp_path / "data" / "lake" / "articles", format="parquet",
                      partitioning="hive").to_table(columns=["url"]).column("url").to_pylist()
    assert sorted(urls) == sorted(server.base + PAGES[k].path for k in site.ARTICLES)
