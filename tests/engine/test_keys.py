"""API key and token formats (engine.keys)."""

from __future__ import annotations

import re

import pytest

from engine.keys import (
    INVITE_PREFIX,
    SECRET_PREFIX,
    WRITE_PREFIX,
    hash_secret,
    new_key,
    token_kind,
)

PREFIXES = [SECRET_PREFIX, WRITE_PREFIX, INVITE_PREFIX]


def test_prefix_values() -> None:
    assert SECRET_PREFIX == "rk_secret_"
    assert WRITE_PREFIX == "rk_write_"
    assert INVITE_PREFIX == "rk_invite_"


@pytest.mark.parametrize("prefix", PREFIXES)
def test_new_key_shape(prefix: str) -> None:
    key = new_key(prefix)
    assert key.plaintext.startswith(prefix)
    body = key.plaintext[len(prefix) :]
    # 32 random bytes, urlsafe base64 without padding.
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", body)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_new_key_hash_matches_plaintext(prefix: str) -> None:
    key = new_key(prefix)
    assert key.hash == hash_secret(key.plaintext)
    assert re.fullmatch(r"[0-9a-f]{64}", key.hash)
    assert key.plaintext not in key.hash


@pytest.mark.parametrize("prefix", PREFIXES)
def test_new_key_display_prefix(prefix: str) -> None:
    key = new_key(prefix)
    assert key.plaintext.startswith(key.prefix)
    assert key.prefix.startswith(prefix)
    assert len(key.prefix) < len(key.plaintext)
    assert len(key.prefix) == len(prefix) + 6


def test_new_keys_are_unique() -> None:
    keys = [new_key(SECRET_PREFIX) for _ in range(2000)]
    assert len({k.plaintext for k in keys}) == len(keys)
    assert len({k.hash for k in keys}) == len(keys)


def test_new_key_is_frozen() -> None:
    key = new_key(WRITE_PREFIX)
    with pytest.raises(AttributeError):
        key.plaintext = "x"  # type: ignore[misc]


def test_hash_secret_is_sha256_hex() -> None:
    assert hash_secret("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert hash_secret("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    assert hash_secret("a") != hash_secret("b")


def test_hash_secret_handles_non_ascii() -> None:
    assert len(hash_secret("clé-🔑")) == 64


@pytest.mark.parametrize(
    ("token", "kind"),
    [
        ("rk_secret_abc", "secret"),
        ("rk_secret_", "secret"),
        ("rk_write_abc", "write"),
        ("rk_write_", "write"),
        ("rk_invite_abc", "session"),
        ("", "session"),
        ("some.session.token", "session"),
        ("RK_SECRET_abc", "session"),
        ("rk_secretabc", "session"),
        ("xrk_secret_abc", "session"),
        ("rk_writ_abc", "session"),
    ],
)
def test_token_kind(token: str, kind: str) -> None:
    assert token_kind(token) == kind


@pytest.mark.parametrize(("prefix", "kind"), [(SECRET_PREFIX, "secret"), (WRITE_PREFIX, "write")])
def test_token_kind_of_new_keys(prefix: str, kind: str) -> None:
    assert token_kind(new_key(prefix).plaintext) == kind
