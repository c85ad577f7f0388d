"""Local replica of The Moscow Times for crawl tests and the offline demo (see README.md)."""

from replica.content import (
    DEFAULT_SEED,
    Author,
    Block,
    Image,
    ReplicaArticle,
    default_seed_path,
    load_articles,
)
from replica.seed import parse_seed
from replica.server import DEFAULT_NOW, ReplicaServer

__all__ = [
    "DEFAULT_NOW",
    "DEFAULT_SEED",
    "Author",
    "Block",
    "Image",
    "ReplicaArticle",
    "ReplicaServer",
    "default_seed_path",
    "load_articles",
    "parse_seed",
]
