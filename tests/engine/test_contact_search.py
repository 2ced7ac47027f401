"""Search keys and their range agree with the prefix search they replace."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from engine.contact_search import MAX_KEY, key_range, matches, search_keys

text = st.text(max_size=12) | st.sampled_from(["Ana", "ana@x.io", "+9198", "\U0010ffff", ""])
docs = st.fixed_dictionaries(
    {
        "email": st.none() | text,
        "user_id": st.none() | text,
        "phone": st.none() | text,
        "properties": st.fixed_dictionaries(
            {"name": st.none() | text | st.integers(), "first_name": st.none() | text}
        ),
    }
)


def in_range(key: str, bounds: dict[str, str]) -> bool:
    return key >= bounds["$gte"] and ("$lt" not in bounds or key < bounds["$lt"])


@given(docs, text.filter(lambda t: t.strip()))
def test_the_index_range_finds_every_match_and_only_prefixes(doc, term) -> None:
    bounds = key_range(term)
    keys = search_keys(doc)
    hits = [k for k in keys if in_range(k, bounds)]
    # The range is exactly "starts with the lowercased term".
    assert all(k.startswith(term.lower()) for k in hits)
    assert all(in_range(k, bounds) for k in keys if k.startswith(term.lower()))
    # A contact the search matches is found by the index (short terms, as the API cuts).
    if matches(doc, term) and len(term.lower()) <= MAX_KEY:
        assert hits


@given(st.text(min_size=1, max_size=5), st.text(max_size=5))
def test_every_extension_of_the_term_is_in_its_range(term, rest) -> None:
    assert in_range(term.lower() + rest, key_range(term))
