"""Article rows (Arrow) as the warehouse stores them: the one conversion both SQL sinks use.

Values are what SQLAlchemy's column types would bind, computed column by column in Arrow:
lists as JSON text (the dialect's serializer, json.dumps by default; a missing list is JSON
null, since the JSON columns keep none_as_null off), timestamps as UTC instants, and on SQLite
as the UTC wall clock text "YYYY-MM-DD HH:MM:SS.ffffff" that its DateTime type writes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from contracts.schema import FIELDS

_KIND = {f.name: f.kind for f in FIELDS}
# Strings that json.dumps (ensure_ascii) writes between its quotes unchanged: printable ASCII
# but the quote and the backslash.
_JSON_VERBATIM = r"^[ !#-\[\]-~]*$"


def db_table(rows: pa.Table, columns: Sequence[str], dialect_name: str,
             serialize: Callable[[Any], str] | None = None) -> pa.Table:
    """`columns` of `rows` as the dialect stores them (see the module's docstring)."""
    out = {}
    for name in columns:
        values, kind = rows[name], _KIND.get(name)
        if kind == "timestamp":
            values = values.cast(pa.timestamp("us", tz="UTC"))
            if dialect_name == "sqlite":
                values = values.cast(pa.timestamp("us")).cast(pa.string())
        elif kind == "list[str]":
            values = json_lists(values, serialize or json.dumps)
        out[name] = values
    return pa.table(out)


def json_lists(values: pa.ChunkedArray | pa.Array, serialize: Callable[[Any], str]
               ) -> pa.Array:
    """Each list<string> value as `serialize` writes it. With json.dumps, lists of verbatim
    strings are joined in Arrow ('["a", "b"]'), the rest serialized one by one."""
    lists = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if serialize is not json.dumps:
        return pa.array([serialize(v) for v in lists.to_pylist()], pa.string())
    items = lists.flatten()
    verbatim = pc.fill_null(pc.match_substring_regex(items, _JSON_VERBATIM), False)
    joined = pc.binary_join_element_wise('["', pc.binary_join(lists, '", "'), '"]', "")
    text = pc.if_else(pc.equal(pc.list_value_length(lists), 0), "[]", joined)
    out = pc.fill_null(text, "null").to_pylist()
    for i in set(pc.list_parent_indices(lists).filter(pc.invert(verbatim)).to_pylist()):
        out[i] = serialize(lists[i].as_py())
    return pa.array(out, pa.string())
