"""Opaque Relay cursors: base64 of a position key, never a raw database id."""

from __future__ import annotations

import base64
import binascii
import json

from engine.errors import InvalidInput


def encode_cursor(position: str) -> str:
    raw = json.dumps({"p": position}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


MAX_CURSOR_LENGTH = 512


def decode_cursor(cursor: str, field: str = "after") -> str:
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise InvalidInput("Invalid cursor.", field=field, code="INVALID_CURSOR")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        position = data["p"]
        if not isinstance(position, str):
            raise TypeError(position)
        return position
    except (binascii.Error, ValueError, KeyError, TypeError, RecursionError) as error:
        raise InvalidInput("Invalid cursor.", field=field, code="INVALID_CURSOR") from error


def clamp_page_size(first: int | None, default: int, maximum: int) -> int:
    if first is None:
        return default
    if first < 0:
        raise InvalidInput("`first` must not be negative.", field="first")
    if first > maximum:
        raise InvalidInput(f"`first` may be at most {maximum}.", field="first")
    return first
