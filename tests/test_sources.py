"""The sources file is checked whole at load: every problem names the file, the source and the key;
files that worked keep working; the mode says where a source's site lives."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from contracts.settings import REPO_ROOT
from spiders import sources as sources_mod
from spiders.sources import SourceConfigError, load_sources, parse_sources


def problems(text: str, tmp_path: Path) -> list[str]:
    path = tmp_path / "mine.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SourceConfigError) as err:
        load_sources(path)
    for line in err.value.problems:  # every problem names the file
        assert line.startswith(str(path)), line
    assert str(err.value) == "\n".join(err.value.problems)
    return err.value.problems


def entry(**keys: str) -> str:
    """A [[source]] table from raw TOML values."""
    return "[[source]]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items())


GOOD = dict(name='"metro"', spider='"news"', home='"https://www.metro.example/"')


def test_the_bundled_files_stay_valid():
    demo = load_sources(REPO_ROOT / "sources" / "demo.toml")["moscowtimes"]
    assert (demo.spider, demo.replica, demo.mode) == ("news", True, "replica")
    assert demo.sitemaps == ("https://static.themoscowtimes.com/sitemap/newsmap.xml",
                             "https://static.themoscowtimes.com/sitemap/sitemap.xml")
    assert demo.politeness["download_delay"] == 0.0
    live = load_sources(REPO_ROOT / "sources" / "live.toml")["moscowtimes"]
    assert live.replica is False and live.feeds == ("https://www.themoscowtimes.com/rss/news",)


def test_an_existing_news_entry_with_every_documented_key_loads(tmp_path):
    path = tmp_path / "news.toml"
    path.write_text(entry(
        name='"metro_news-2"', spider='"news"', home='"https://www.metro.example/"',
        feeds='["https://www.metro.example/rss.xml"]',
        sitemaps='["https://www.metro.example/news-sitemap.xml"]',
        timezone='"Europe/Berlin"') + "[source.politeness]\ndownload_delay = 2.5\n"
        "retry_times = 1\nuser_agent = \"Mine/1.0\"\n", encoding="utf-8")
    src = load_sources(path)["metro_news-2"]
    assert src.feeds == ("https://www.metro.example/rss.xml",)
    assert src.sitemaps == ("https://www.metro.example/news-sitemap.xml",)
    assert (src.home, src.timezone) == ("https://www.metro.example/", "Europe/Berlin")
    assert src.scrapy_settings() == {"DOWNLOAD_DELAY": 2.5, "RETRY_TIMES": 1,
                                     "USER_AGENT": "Mine/1.0"}


@pytest.mark.parametrize("name", ["local/news", "my news", "café", "../up", ""])
def test_a_name_must_be_a_slug(tmp_path, name):
    (line,) = problems(entry(**(GOOD | {"name": f'"{name}"'})), tmp_path)
    assert "key 'name'" in line
    assert ("is required" if not name else "not a slug") in line


def test_unknown_keys_get_a_suggestion(tmp_path):
    text = entry(**(GOOD | {"feed": '["https://www.metro.example/rss"]'}))
    text += "[source.politeness]\ndownload_dealy = 1.0\n"
    got = problems(text, tmp_path)
    assert got == [
        f"{tmp_path / 'mine.toml'}: source 'metro', key 'feed': unknown key; did you mean 'feeds'?",
        f"{tmp_path / 'mine.toml'}: source 'metro', key 'politeness.download_dealy': unknown key;"
        " did you mean 'download_delay'?",
    ]


def test_a_key_with_no_near_miss_lists_the_valid_ones(tmp_path):
    (line,) = problems(entry(**(GOOD | {"colour": '"blue"'})), tmp_path)
    assert "key 'colour': unknown key; valid: name, spider, home, feeds" in line


@pytest.mark.parametrize(("key", "value", "says"), [
    ("home", '"ftp://www.metro.example/"', "not an http(s) URL"),
    ("home", '"www.metro.example"', "not an http(s) URL"),
    ("home", '"https://"', "has no host"),
    ("home", '"https://www.metro example/"', "white space"),
    ("home", '"https://www.metro.example:99999/"', "not a valid URL"),
    ("home", '["https://www.metro.example/"]', "takes one URL, not a list"),
    ("feeds", '"https://www.metro.example/rss"', "takes a list of URLs"),
    ("sitemaps", '["https://www.metro.example/s.xml", "/s.xml"]', "'/s.xml' is not an http(s)"),
    ("newsmap", '"nonsense"', "not an http(s) URL"),
])
def test_urls_must_parse(tmp_path, key, value, says):
    (line,) = problems(entry(**(GOOD | {key: value})), tmp_path)
    assert f"source 'metro', key {key!r}: " in line and says in line


def test_every_problem_of_every_source_is_reported_at_once(tmp_path):
    text = (entry(name='"a b"', spider='"nwes"', home='"x"')
            + entry(name='"ok"', spider='"news"', feeds='["https://ok.example/rss"]',
                    timezone='"Mars/Olympus"', max_urls="-1")
            + entry(name='"ok"', spider='"news"', home='"https://ok.example/"'))
    got = problems(text, tmp_path)
    keys = [line.split(", key ")[1].split(":")[0] for line in got]
    assert keys == ["'name'", "'spider'", "'home'", "'timezone'", "'max_urls'", "'name'"]
    assert "did you mean 'news'?" in got[1]
    assert got[-1].endswith("source 'ok', key 'name': defined twice")


def test_value_types_are_checked(tmp_path):
    text = entry(**(GOOD | {"replica": '"yes"'})) + (
        "[source.politeness]\ndownload_delay = \"1\"\nautothrottle = 1\nretry_times = -2\n")
    got = problems(text, tmp_path)
    assert [g.split(", key ")[1].split(":")[0] for g in got] == [
        "'replica'", "'politeness.download_delay'", "'politeness.autothrottle'",
        "'politeness.retry_times'"]


@pytest.mark.parametrize(("text", "says"), [
    ('[source]\nname = "x"\n', "write each source as [[source]]"),
    ('[[sources]]\nname = "x"\n', "unknown top-level key 'sources'; did you mean 'source'?"),
    ("", "no [[source]] entries"),
    ('source = ["https://metro.example/"]\n', "source #1: not a table"),
    ("[[source]\n", "not valid TOML"),
])
def test_file_level_problems(tmp_path, text, says):
    assert says in problems(text, tmp_path)[0]


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(SourceConfigError, match=r"sources file not found: .*nope\.toml"):
        load_sources(tmp_path / "nope.toml")


def test_allowed_domains_take_hosts_ports_and_urls(tmp_path):
    src = parse_sources(entry(**(GOOD | {"allowed_domains": (
        '["Metro.example", "127.0.0.1:8080", "https://www.metro.example/"]')})), "x.toml")
    # scheme, `www.` and a URL's path do not change the site (spiders/urls.py SiteScope)
    assert src["metro"].allowed_domains == ("metro.example", "127.0.0.1:8080")
    src = parse_sources(entry(**(GOOD | {"allowed_domains": '["https://metro.example/news/"]'})),
                        "x.toml")
    assert src["metro"].allowed_domains == ("metro.example",)
    (line,) = problems(entry(**(GOOD | {"allowed_domains": '["metro.example:99999"]'})),
                       tmp_path)
    assert "key 'allowed_domains': 'metro.example:99999' is not a host" in line
    (line,) = problems(entry(**(GOOD | {"allowed_domains": '["other.example"]'})), tmp_path)
    assert "'https://www.metro.example/' is outside allowed_domains" in line


def test_a_retired_key_warns_and_never_fails(tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sources_mod.RETIRED, "crawl_budget", "use max_urls")
    path = tmp_path / "old.toml"
    path.write_text(entry(**(GOOD | {"crawl_budget": "100"})), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="spiders.sources"):
        assert list(load_sources(path)) == ["metro"]
    assert f"{path}: source 'metro', key 'crawl_budget' is retired and ignored: use max_urls" in (
        caplog.text)


@pytest.mark.parametrize(("url", "mode"), [
    ("http://127.0.0.1:8080/", "local"),
    ("http://localhost:8080/feed.xml", "local"),
    ("http://192.168.1.20/", "local"),
    ("http://10.0.0.7/", "local"),
    ("https://8.8.8.8/", "live"),
    ("https://unresolvable.invalid/", "live"),
])
def test_mode_local_for_loopback_and_private_addresses(url, mode):
    src = parse_sources(entry(name='"s"', home=f'"{url}"'), "x.toml")["s"]
    assert src.spider == "news"  # the default
    assert src.mode == mode
    routed = parse_sources(entry(name='"s"', home=f'"{url}"', replica_addr='"127.0.0.1:1"'),
                           "x.toml")["s"]
    assert routed.mode == "replica"
