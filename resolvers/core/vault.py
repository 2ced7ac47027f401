"""Provider credentials encrypted at rest (Fernet: AES-128-CBC + HMAC-SHA256).

The key is derived from REACH_VAULT_KEY, or the service's secret key when that is unset,
so a copy of the database alone does not reveal SMTP passwords or API tokens.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from engine.errors import InvalidInput
from resolvers.core import runtime


def _fernet() -> Fernet:
    config = runtime.get()
    secret = config.vault_key or config.session_secret
    digest = hashlib.sha256(b"reach-vault:" + secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(values: dict[str, Any]) -> str:
    if not values:
        return ""
    return _fernet().encrypt(json.dumps(values, sort_keys=True).encode()).decode()


def unseal(token: str) -> dict[str, Any]:
    if not token:
        return {}
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken as error:
        raise InvalidInput(
            "Stored channel credentials cannot be decrypted with this server's key "
            "(was REACH_VAULT_KEY or REACH_SECRET_KEY changed?). Configure the channel again.",
            code="VAULT_KEY_MISMATCH",
        ) from error
