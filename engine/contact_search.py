"""Contact search: a case-insensitive prefix of an identifier or a name.

Each contact carries `search_keys`, the lowercased values of the searched fields, under
the index (workspace_id, search_keys); a search is one range over it, from the term to
the first string past every one that starts with it. Partial updates only ever add keys,
so a key can be stale (an old name): `matches` re-checks the stored fields, which makes
stale keys harmless.
"""

from __future__ import annotations

from typing import Any

FIELDS = ("email", "user_id", "phone")
PROPERTIES = ("name", "first_name", "last_name")
MAX_KEY = 200  # index keys stay small; a search term is at most 100 characters
TOP = "\U0010ffff"


def key(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.lower()[:MAX_KEY]


def values(doc: dict[str, Any]) -> list[Any]:
    properties = doc.get("properties") or {}
    return [doc.get(f) for f in FIELDS] + [properties.get(p) for p in PROPERTIES]


def search_keys(doc: dict[str, Any]) -> list[str]:
    return sorted({k for k in map(key, values(doc)) if k})


def key_range(term: str) -> dict[str, str]:
    """Every string that starts with the lowercased term, and no other (MongoDB
    orders strings by UTF-8 bytes, which is code point order)."""
    prefix = term.lower()
    chars = list(prefix)
    while chars and chars[-1] == TOP:
        chars.pop()
    if not chars:
        return {"$gte": prefix}
    following = ord(chars[-1]) + 1
    chars[-1] = chr(0xE000 if 0xD800 <= following <= 0xDFFF else following)
    return {"$gte": prefix, "$lt": "".join(chars)}


def matches(doc: dict[str, Any], term: str) -> bool:
    prefix = term.lower()
    return any(isinstance(v, str) and v.lower().startswith(prefix) for v in values(doc))
