"""The replica's content model: articles, their blocks, images and authors, and the site's
constants (the loaders, content.py and seed.py, build these)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from enum import Enum
from functools import cached_property
from pathlib import Path

from contracts.settings import REPO_ROOT

MOSCOW = timezone(timedelta(hours=3), "MSK")
WWW = "https://www.themoscowtimes.com"
STATIC = "https://static.themoscowtimes.com"

SECTIONS = (
    "news",
    "opinion",
    "business",
    "climate",
    "diaspora",
    "features",
    "ukraine-war",
    "arts-and-life",
    "meanwhile",
    "lectures",
)
BLOCK_TYPES = ("html", "header", "quote", "image", "aside", "link", "embed")
EMBED_PROVIDERS = ("telegram", "x", "youtube")

# The site marks an article "Updated" only past this grace period after publication.
UPDATE_GRACE = timedelta(minutes=10)

DEFAULT_ARTICLES_DIR = Path(__file__).resolve().parent / "articles"
SEED_ENV = "NIGHTDESK_SEED_ARTICLE"

_SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_IMAGE_FILE_RE = re.compile(r"^[0-9a-f]{2}/[^/\s]+$")


class ContentError(ValueError):
    """A content file (TOML or seed) does not follow the documented format."""


class DefaultSeed(Enum):
    """Sentinel type: "use default_seed_path()", as opposed to None meaning "no seed"."""

    TOKEN = "default"


DEFAULT_SEED = DefaultSeed.TOKEN
SeedPath = Path | None | DefaultSeed


def default_seed_path() -> Path:
    """The seed article lives outside the repo (it must never be copied in); env overrides."""
    env = os.environ.get(SEED_ENV)
    if env:
        return Path(env)
    return REPO_ROOT.parent / "shared" / "fixtures" / "moscowtimes" / "seed-article.txt"


def image_url(file: str, preset: str = "article_1360") -> str:
    return f"{STATIC}/image/{preset}/{file}"


@dataclass(frozen=True)
class Author:
    name: str
    slug: str

    @property
    def path(self) -> str:
        return f"/author/{self.slug}"

    @property
    def url(self) -> str:
        return WWW + self.path


@dataclass(frozen=True)
class Image:
    file: str  # "{2 hex}/{name}", as in the site's image URLs
    caption: str = ""
    credits: str = ""

    @property
    def url(self) -> str:
        return image_url(self.file)


@dataclass(frozen=True)
class Block:
    """One content block; which fields matter depends on `type` (see README)."""

    type: str
    paragraphs: tuple[str, ...] = ()  # html
    text: str = ""  # header, quote, aside
    cite: str = ""  # quote
    file: str = ""  # image
    caption: str = ""  # image
    credits: str = ""  # image
    article: int | None = None  # link: target replica article id (TOML form)
    url: str = ""  # link: absolute URL (resolved from `article`, or explicit in the seed)
    title: str = ""  # link: card title
    provider: str = ""  # embed
    ref: str = ""  # embed


@dataclass(frozen=True)
class Revision:
    """An edit made after publication: the page changes at `at` (and shows "Updated:")."""

    at: datetime
    title: str | None = None
    add_paragraphs: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReplicaArticle:
    id: int
    published: datetime
    modified: datetime
    section: str
    label: str | None
    slug: str
    alt_slugs: tuple[str, ...]
    title: str
    subtitle: str | None
    authors: tuple[Author, ...]
    description: str
    tags: tuple[str, ...]
    image: Image | None
    blocks: tuple[Block, ...]
    # Verbatim byline date for the seed, which shows "January 31, 2022" rather than the
    # site's usual "Jan. 31, 2022"; None means the standard format.
    date_display: str | None = None
    revisions: tuple[Revision, ...] = ()

    # cached: every page, feed and sitemap asks for these, often many times over
    @cached_property
    def path(self) -> str:
        day = self.published.astimezone(MOSCOW)
        return f"/{day.year:04d}/{day.month:02d}/{day.day:02d}/{self.slug}-a{self.id}"

    @cached_property
    def canonical_url(self) -> str:
        return WWW + self.path

    @property
    def updated(self) -> bool:
        return self.modified > self.published + UPDATE_GRACE

    @property
    def body_paragraphs(self) -> tuple[str, ...]:
        """What a parser must call the body: html paragraphs, header and quote texts."""
        out: list[str] = []
        for block in self.blocks:
            if block.type == "html":
                out.extend(block.paragraphs)
            elif block.type in ("header", "quote"):
                out.append(block.text)
        return tuple(out)

    @property
    def author_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.authors)


def as_of(article: ReplicaArticle, now: datetime) -> ReplicaArticle:
    """The article as the site showed it at `now`: an edit dated later has not happened yet,
    and every revision up to `now` is applied in order (new title, paragraphs appended)."""
    if article.modified > now:
        article = replace(article, modified=article.published)
    for rev in article.revisions:
        if rev.at > now:
            break
        blocks = article.blocks
        if rev.add_paragraphs:
            blocks = (*blocks, Block(type="html", paragraphs=rev.add_paragraphs))
        article = replace(article, title=rev.title or article.title, blocks=blocks,
                          modified=max(article.modified, rev.at))
    return article


# --------------------------------------------------------------------------- loading
