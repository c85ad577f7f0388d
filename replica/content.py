"""Articles the replica serves: the TOML loader and its validation (the model is model.py).

The TOML format is documented in replica/README.md. Loading is strict (unknown keys, bad
timezones, dangling links all raise ValueError naming the file and article) because the content
files are hand-written in parallel and a silent typo would only surface as a confusing crawl
test failure much later.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from replica.model import (
    _IMAGE_FILE_RE,
    _SLUG_RE,
    BLOCK_TYPES,
    DEFAULT_ARTICLES_DIR,
    DEFAULT_SEED,
    EMBED_PROVIDERS,
    MOSCOW,
    SECTIONS,
    SEED_ENV,
    STATIC,
    UPDATE_GRACE,
    WWW,
    Author,
    Block,
    ContentError,
    DefaultSeed,
    Image,
    ReplicaArticle,
    Revision,
    SeedPath,
    as_of,
    default_seed_path,
    image_url,
)
from replica.seed import parse_seed

# The model's names stay importable from here (replica.content is what tests and tools name).
__all__ = [
    "BLOCK_TYPES", "DEFAULT_ARTICLES_DIR", "DEFAULT_SEED", "EMBED_PROVIDERS", "MOSCOW", "SECTIONS",
    "SEED_ENV", "STATIC", "UPDATE_GRACE", "WWW", "Author", "Block", "ContentError", "DefaultSeed",
    "Image", "ReplicaArticle", "Revision", "SeedPath", "as_of", "default_seed_path", "image_url",
    "load_articles",
]


def load_articles(
    articles_dir: Path | None = None, seed_path: SeedPath = DEFAULT_SEED
) -> list[ReplicaArticle]:
    """Every article in `articles_dir`/*.toml plus the seed article when its file exists.

    Returns the articles sorted by publication time (then id). Raises ValueError on any
    content problem.
    """
    if articles_dir is None:
        directory = DEFAULT_ARTICLES_DIR  # may not exist yet in a fresh checkout: no articles
    else:
        directory = Path(articles_dir)
        if not directory.is_dir():  # a typo in an explicit path must not serve an empty site
            raise ContentError(f"articles directory {directory} does not exist")
    articles: list[ReplicaArticle] = []
    origin: dict[int, str] = {}
    toml_files = sorted(directory.glob("*.toml")) if directory.is_dir() else []
    for toml_file in toml_files:
        for article in _load_file(toml_file):
            _claim_id(origin, article.id, toml_file.name)
            articles.append(article)

    if isinstance(seed_path, DefaultSeed):
        seed_path = default_seed_path()
    if seed_path is not None and Path(seed_path).is_file():
        seed_file = Path(seed_path)
        try:
            seed = parse_seed(seed_file.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ContentError(f"{seed_file}: {exc}") from exc
        _claim_id(origin, seed.id, f"seed {seed_file.name}")
        articles.append(seed)

    articles = _resolve_links(articles, origin)
    articles.sort(key=lambda a: (a.published, a.id))
    return articles


def _claim_id(origin: dict[int, str], article_id: int, where: str) -> None:
    if article_id in origin:
        raise ContentError(f"duplicate article id {article_id} in {origin[article_id]} and {where}")
    origin[article_id] = where


def _resolve_links(articles: list[ReplicaArticle], origin: dict[int, str]) -> list[ReplicaArticle]:
    by_id = {a.id: a for a in articles}
    resolved = []
    for article in articles:
        blocks = []
        for block in article.blocks:
            if block.type == "link" and block.article is not None:
                target = by_id.get(block.article)
                if target is None:
                    raise ContentError(
                        f"{origin[article.id]}: article {article.id}: link block points to "
                        f"unknown article id {block.article}"
                    )
                block = replace(block, url=target.canonical_url, title=target.title)
            blocks.append(block)
        resolved.append(replace(article, blocks=tuple(blocks)))
    return resolved


def _load_file(path: Path) -> list[ReplicaArticle]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ContentError(f"{path.name}: invalid TOML: {exc}") from exc
    extra = set(data) - {"article"}
    if extra:
        raise ContentError(f"{path.name}: unexpected top-level keys {sorted(extra)}")
    entries = data.get("article", [])
    if not isinstance(entries, list):
        raise ContentError(f"{path.name}: 'article' must be an array of tables ([[article]])")
    articles = []
    for index, entry in enumerate(entries, start=1):
        where = f"{path.name}: article #{index}"
        if isinstance(entry, Mapping) and isinstance(entry.get("id"), int):
            where += f" (id {entry['id']})"
        try:
            articles.append(_parse_article(entry))
        except ValueError as exc:
            raise ContentError(f"{where}: {exc}") from exc
    return articles


_ARTICLE_KEYS = {
    "id", "published", "modified", "section", "label", "slug", "alt_slugs", "title",
    "subtitle", "authors", "description", "tags", "image", "blocks", "revisions",
}  # fmt: skip
_REQUIRED_ARTICLE_KEYS = {"id", "published", "section", "slug", "title", "description"}


def _parse_article(entry: Any) -> ReplicaArticle:
    if not isinstance(entry, Mapping):
        raise ContentError("not a table")
    _check_keys(entry, _ARTICLE_KEYS, _REQUIRED_ARTICLE_KEYS, "article")

    article_id = entry["id"]
    if not isinstance(article_id, int) or isinstance(article_id, bool) or article_id <= 0:
        raise ContentError(f"id must be a positive integer, got {article_id!r}")
    published = _moscow_time(entry["published"], "published")
    modified = _moscow_time(entry.get("modified", published), "modified")
    if modified < published:
        raise ContentError(f"modified {modified.isoformat()} is before published")
    section = _text(entry, "section")
    if section not in SECTIONS:
        raise ContentError(f"section {section!r} is not one of {', '.join(SECTIONS)}")
    slug = _slug(_text(entry, "slug"), "slug")
    alt_slugs = tuple(_slug(s, "alt_slugs") for s in _str_list(entry, "alt_slugs"))
    if slug in alt_slugs:
        raise ContentError("alt_slugs repeats the canonical slug")
    tags = _str_list(entry, "tags")
    if len(set(tags)) != len(tags):
        raise ContentError(f"duplicate tags in {list(tags)}")

    return ReplicaArticle(
        id=article_id,
        published=published,
        modified=modified,
        section=section,
        label=_optional_text(entry, "label"),
        slug=slug,
        alt_slugs=alt_slugs,
        title=_text(entry, "title"),
        subtitle=_optional_text(entry, "subtitle"),
        authors=_authors(entry.get("authors", [])),
        description=_text(entry, "description"),
        tags=tags,
        image=_image(entry["image"]) if "image" in entry else None,
        blocks=tuple(_block(b, i) for i, b in enumerate(entry.get("blocks", []), start=1)),
        revisions=_revisions(entry.get("revisions", []), published),
    )


def _check_keys(table: Mapping[str, Any], allowed: set[str], required: set[str], what: str) -> None:
    unknown = set(table) - allowed
    if unknown:
        raise ContentError(f"unknown {what} keys {sorted(unknown)} (allowed: {sorted(allowed)})")
    missing = required - set(table)
    if missing:
        raise ContentError(f"missing required {what} keys {sorted(missing)}")


def _moscow_time(value: Any, field: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ContentError(f"{field}: not an ISO 8601 timestamp: {value!r}") from exc
    if not isinstance(value, datetime):
        raise ContentError(f"{field}: expected an ISO 8601 timestamp, got {value!r}")
    if value.utcoffset() != timedelta(hours=3):
        raise ContentError(f"{field}: {value.isoformat()} must carry the Moscow offset +03:00")
    return value.astimezone(MOSCOW)


def _text(table: Mapping[str, Any], key: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ContentError(f"{key} must be a non-empty string, got {value!r}")
    return value


def _optional_text(table: Mapping[str, Any], key: str) -> str | None:
    return _text(table, key) if key in table else None


def _str_list(table: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ContentError(f"{key} must be a list of non-empty strings, got {value!r}")
    return tuple(value)


def _slug(value: str, field: str) -> str:
    if not _SLUG_RE.match(value):
        raise ContentError(f"{field}: {value!r} is not lowercase-words-joined-by-dashes")
    return value


def _authors(value: Any) -> tuple[Author, ...]:
    if not isinstance(value, list):
        raise ContentError("authors must be a list of {name, slug} tables")
    authors = []
    for item in value:
        if not isinstance(item, Mapping):
            raise ContentError(f"author {item!r} is not a {{name, slug}} table")
        _check_keys(item, {"name", "slug"}, {"name", "slug"}, "author")
        authors.append(Author(_text(item, "name"), _slug(_text(item, "slug"), "author slug")))
    return tuple(authors)


def _image(value: Any) -> Image:
    if not isinstance(value, Mapping):
        raise ContentError("image must be a {file, caption, credits} table")
    _check_keys(value, {"file", "caption", "credits"}, {"file"}, "image")
    return Image(
        file=_image_file(_text(value, "file")),
        caption=str(value.get("caption", "")),
        credits=str(value.get("credits", "")),
    )


def _image_file(file: str) -> str:
    if not _IMAGE_FILE_RE.match(file):
        raise ContentError(f"image file {file!r} must look like '{{2 hex}}/name.jpg'")
    return file


_BLOCK_KEYS: dict[str, tuple[set[str], set[str]]] = {  # type -> (allowed, required)
    "html": ({"paragraphs"}, {"paragraphs"}),
    "header": ({"text"}, {"text"}),
    "quote": ({"text", "cite"}, {"text"}),
    "image": ({"file", "caption", "credits"}, {"file"}),
    "aside": ({"text"}, {"text"}),
    "link": ({"article"}, {"article"}),
    "embed": ({"provider", "ref"}, {"provider", "ref"}),
}


def _block(value: Any, index: int) -> Block:
    try:
        if not isinstance(value, Mapping):
            raise ContentError("not a table")
        block_type = value.get("type")
        if block_type not in _BLOCK_KEYS:
            raise ContentError(f"type {block_type!r} is not one of {', '.join(BLOCK_TYPES)}")
        allowed, required = _BLOCK_KEYS[block_type]
        _check_keys(value, allowed | {"type"}, required, f"{block_type} block")
        if block_type == "html":
            paragraphs = _str_list(value, "paragraphs")
            if not paragraphs:
                raise ContentError("html block has no paragraphs")
            return Block("html", paragraphs=paragraphs)
        if block_type == "image":
            return Block(
                "image",
                file=_image_file(_text(value, "file")),
                caption=str(value.get("caption", "")),
                credits=str(value.get("credits", "")),
            )
        if block_type == "link":
            target = value["article"]
            if not isinstance(target, int) or isinstance(target, bool):
                raise ContentError(f"article must be an article id, got {target!r}")
            return Block("link", article=target)
        if block_type == "embed":
            provider = _text(value, "provider")
            if provider not in EMBED_PROVIDERS:
                raise ContentError(f"provider {provider!r} is not one of {EMBED_PROVIDERS}")
            return Block("embed", provider=provider, ref=_text(value, "ref"))
        cite = str(value.get("cite", ""))
        return Block(block_type, text=_text(value, "text"), cite=cite)
    except ValueError as exc:
        raise ContentError(f"block #{index}: {exc}") from exc


def _revisions(value: Any, published: datetime) -> tuple[Revision, ...]:
    if not isinstance(value, list):
        raise ContentError("revisions must be an array of tables")
    revisions = []
    for i, rev in enumerate(value, start=1):
        if not isinstance(rev, Mapping):
            raise ContentError(f"revision {i}: not a table")
        _check_keys(rev, {"at", "title", "add_paragraphs"}, {"at"}, f"revision {i}")
        at = _moscow_time(rev["at"], f"revision {i} at")
        if at <= published:
            raise ContentError(f"revision {i} is not after publication")
        revisions.append(Revision(at=at, title=_optional_text(rev, "title"),
                                  add_paragraphs=_str_list(rev, "add_paragraphs")))
    if [r.at for r in revisions] != sorted(r.at for r in revisions):
        raise ContentError("revisions must be in time order")
    return tuple(revisions)
