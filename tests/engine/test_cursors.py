"""Opaque Relay cursors (engine.cursors)."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.cursors import clamp_page_size, decode_cursor, encode_cursor
from engine.errors import DomainError, InvalidInput

FAST = settings(max_examples=200, deadline=None)


def b64(raw: bytes) -> str:
    """Encode like encode_cursor does: urlsafe, padding stripped."""
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def assert_invalid_cursor(cursor: str, field: str = "after") -> None:
    with pytest.raises(InvalidInput) as caught:
        decode_cursor(cursor, field=field)
    assert caught.value.code == "INVALID_CURSOR"
    assert caught.value.field == field
    assert caught.value.extensions == {"code": "INVALID_CURSOR", "field": field}


# --- round trip -------------------------------------------------------------


@FAST
@given(st.text(max_size=25))
def test_round_trip_arbitrary_text(position: str) -> None:
    # Positions are short sort keys (ids); cursors longer than MAX_CURSOR_LENGTH are refused.
    assert decode_cursor(encode_cursor(position)) == position


def test_overlong_cursors_are_invalid() -> None:
    cursor = encode_cursor("x" * 1000)
    with pytest.raises(InvalidInput) as error:
        decode_cursor(cursor)
    assert error.value.code == "INVALID_CURSOR"


@FAST
@given(st.text())
def test_cursor_is_urlsafe_and_unpadded(position: str) -> None:
    cursor = encode_cursor(position)
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert not cursor.endswith("=")


@pytest.mark.parametrize(
    "position",
    ["", "0", "65f0c0ffee0123456789abcd", "2024-01-01T00:00:00Z|abc", "\ud800", "é\n\x00"],
)
def test_round_trip_examples(position: str) -> None:
    assert decode_cursor(encode_cursor(position)) == position


def test_cursor_is_deterministic() -> None:
    assert encode_cursor("abc") == encode_cursor("abc")
    assert encode_cursor("abc") != encode_cursor("abd")


# --- opacity ----------------------------------------------------------------


@pytest.mark.parametrize(
    "object_id",
    ["65f0c0ffee0123456789abcd", "000000000000000000000000", "ffffffffffffffffffffffff"],
)
def test_cursor_is_opaque_for_object_ids(object_id: str) -> None:
    cursor = encode_cursor(object_id)
    assert object_id not in cursor
    assert object_id.upper() not in cursor.upper()
    assert decode_cursor(cursor) == object_id


@FAST
@given(st.text(alphabet="0123456789abcdef", min_size=24, max_size=24))
def test_cursor_never_contains_raw_object_id(object_id: str) -> None:
    assert object_id not in encode_cursor(object_id)


# --- garbage ----------------------------------------------------------------


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "a",
        "abcde",
        "!!!!",
        "====",
        "not a cursor",
        "é",
        "\ud800",
        "65f0c0ffee0123456789abcd",
    ],
)
def test_garbage_text_is_invalid(cursor: str) -> None:
    assert_invalid_cursor(cursor)


def test_empty_string_is_invalid() -> None:
    assert_invalid_cursor("")


@pytest.mark.parametrize(
    "raw",
    [b"hello world", b"\xff\xfe\xfd", b"{", b"{'p': 'x'}", b"p", b"\x00\x01", b"{}x"],
)
def test_base64_of_non_json_is_invalid(raw: bytes) -> None:
    assert_invalid_cursor(b64(raw))


@pytest.mark.parametrize(
    "document",
    [{}, {"q": "x"}, {"P": "x"}, [], ["p"], "p", 1, None, True, [{"p": "x"}]],
)
def test_json_without_p_is_invalid(document: object) -> None:
    assert_invalid_cursor(b64(json.dumps(document).encode()))


@pytest.mark.parametrize("value", [None, 1, 1.5, True, [], ["x"], {}, {"p": "x"}])
def test_json_with_non_string_p_is_invalid(value: object) -> None:
    assert_invalid_cursor(b64(json.dumps({"p": value}).encode()))


@pytest.mark.parametrize(
    "raw",
    [b'{"p":1e400}', b'{"p":' + b"1" * 5000 + b"}", b'{"p":NaN}', b'{"p":Infinity}'],
)
def test_odd_json_numbers_are_invalid(raw: bytes) -> None:
    assert_invalid_cursor(b64(raw))


def test_field_is_carried() -> None:
    assert_invalid_cursor("garbage", field="before")


@pytest.mark.parametrize("depth", [20_000, 100_000])
def test_deeply_nested_json_is_invalid(depth: int) -> None:
    """A ~13 KB cursor of nested arrays must be a userError, not a RecursionError.

    Currently FAILS: json.loads raises RecursionError (from ~10,000 levels on
    CPython 3.13), which decode_cursor does not catch.
    """
    assert_invalid_cursor(b64(b"[" * depth))
    assert_invalid_cursor(b64(b'{"p":' + b"[" * depth))


def _decode_or_invalid(cursor: str) -> None:
    try:
        result = decode_cursor(cursor)
    except InvalidInput as error:
        assert error.code == "INVALID_CURSOR"
        assert error.field == "after"
    else:
        assert isinstance(result, str)


@FAST
@given(st.text())
def test_arbitrary_text_never_raises_other_errors(cursor: str) -> None:
    _decode_or_invalid(cursor)


@FAST
@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_="))
def test_arbitrary_base64_alphabet_never_raises_other_errors(cursor: str) -> None:
    _decode_or_invalid(cursor)


@FAST
@given(st.binary())
def test_base64_of_arbitrary_bytes_never_raises_other_errors(raw: bytes) -> None:
    _decode_or_invalid(b64(raw))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=10,
)


@FAST
@given(JSON)
def test_base64_of_arbitrary_json_never_raises_other_errors(document: object) -> None:
    cursor = b64(json.dumps(document).encode())
    if isinstance(document, dict) and isinstance(document.get("p"), str):
        assert decode_cursor(cursor) == document["p"]
    else:
        assert_invalid_cursor(cursor)


# --- page size --------------------------------------------------------------


def test_clamp_default_when_none() -> None:
    assert clamp_page_size(None, 20, 100) == 20


@pytest.mark.parametrize("first", [0, 1, 50, 99, 100])
def test_clamp_within_bounds(first: int) -> None:
    assert clamp_page_size(first, 20, 100) == first


@pytest.mark.parametrize("first", [101, 1000, 10**9])
def test_clamp_above_max(first: int) -> None:
    with pytest.raises(InvalidInput) as caught:
        clamp_page_size(first, 20, 100)
    assert caught.value.field == "first"
    assert "100" in caught.value.message


@pytest.mark.parametrize("first", [-1, -100])
def test_clamp_negative(first: int) -> None:
    with pytest.raises(InvalidInput) as caught:
        clamp_page_size(first, 20, 100)
    assert caught.value.field == "first"
    assert caught.value.code == "INVALID"


@FAST
@given(st.integers(), st.integers(min_value=0, max_value=1000))
def test_clamp_property(first: int, maximum: int) -> None:
    try:
        result = clamp_page_size(first, 10, maximum)
    except InvalidInput:
        assert first < 0 or first > maximum
    else:
        assert 0 <= result == first <= maximum


def test_invalid_input_is_domain_error() -> None:
    assert issubclass(InvalidInput, DomainError)
