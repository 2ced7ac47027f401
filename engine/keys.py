"""API key and token formats.

Keys are 256-bit random strings; only their SHA-256 is stored. That is the right
hash for high-entropy secrets (a slow password hash would only slow every request).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

SECRET_PREFIX = "rk_secret_"
WRITE_PREFIX = "rk_write_"
INVITE_PREFIX = "rk_invite_"


@dataclass(frozen=True)
class NewKey:
    plaintext: str
    prefix: str
    hash: str


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_key(prefix: str) -> NewKey:
    plaintext = prefix + secrets.token_urlsafe(32)
    return NewKey(plaintext, plaintext[: len(prefix) + 6], hash_secret(plaintext))


def token_kind(token: str) -> str:
    """'secret', 'write' or 'session', from the token's shape alone."""
    if token.startswith(SECRET_PREFIX):
        return "secret"
    if token.startswith(WRITE_PREFIX):
        return "write"
    return "session"
