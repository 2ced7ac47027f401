"""Contact properties: standard keys, Segment trait names, custom-field coercion."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from engine.errors import InvalidInput

STANDARD_PROPERTIES = (
    "name",
    "first_name",
    "last_name",
    "city",
    "country",
    "language",
    "timezone",
    "plan",
    "birthday",
)
# Segment's spec uses camelCase traits; we store snake_case standard keys.
TRAIT_ALIASES = {"firstName": "first_name", "lastName": "last_name"}
# Traits that are identifiers, not properties.
IDENTIFIER_TRAITS = {"email": "email", "phone": "phone", "userId": "user_id", "id": "user_id"}

FIELD_TYPES = ("string", "number", "boolean", "date", "list")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")
MAX_PROPERTIES = 200


@dataclass(frozen=True)
class FieldDef:
    key: str
    type: str
    label: str = ""


def check_key(key: str, field: str) -> str:
    """Property keys become MongoDB field names: no dots, no $, no spaces."""
    if not isinstance(key, str) or not _KEY.match(key):
        raise InvalidInput(
            f"Property key {str(key)[:40]!r} must start with a letter or _ and hold only "
            "letters, digits, _ and - (at most 64).",
            field=field,
        )
    return key


def parse_datetime(value: Any) -> datetime:
    """ISO 8601 date or date-time (or epoch seconds) to an aware UTC datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, bool):
        raise ValueError("not a date")
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValueError("not a date")


def coerce(value: Any, field_type: str, field: str) -> Any:
    """Coerce a value to a declared custom-field type, or explain why it cannot be."""
    if value is None:
        return None
    try:
        if field_type == "string":
            if isinstance(value, dict | list):
                raise ValueError
            if isinstance(value, bool):
                return "true" if value else "false"
            return value if isinstance(value, str) else str(value)
        if field_type == "number":
            if isinstance(value, bool):
                raise ValueError
            number = value if isinstance(value, int | float) else float(str(value).strip())
            if number != number or number in (float("inf"), float("-inf")):
                raise ValueError
            return int(number) if float(number).is_integer() and abs(number) < 2**53 else number
        if field_type == "boolean":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("true", "yes", "1", "y"):
                return True
            if text in ("false", "no", "0", "n"):
                return False
            raise ValueError
        if field_type == "date":
            return parse_datetime(value)
        if field_type == "list":
            if isinstance(value, list):
                items = value
            elif isinstance(value, str):
                items = [part.strip() for part in value.split(",") if part.strip()]
            else:
                raise ValueError
            if any(isinstance(item, dict | list) for item in items):
                raise ValueError
            return [str(item) for item in items]
    except (ValueError, TypeError, OverflowError, OSError) as error:
        raise InvalidInput(
            f"{field} must be a {field_type}; got {str(value)[:40]!r}.", field=field
        ) from error
    raise InvalidInput(f"Unknown field type {field_type!r}.", field=field)


STANDARD_TYPES = {"birthday": "date"}


def normalize_properties(
    raw: dict[str, Any], fields: dict[str, FieldDef], path: str
) -> tuple[dict[str, Any], list[InvalidInput]]:
    """Map trait names to stored keys and coerce declared types.

    Returns the properties that are valid and one error per rejected key; a value of
    None means "remove this key" (merge-patch).
    """
    out: dict[str, Any] = {}
    errors: list[InvalidInput] = []
    if len(raw) > MAX_PROPERTIES:
        errors.append(InvalidInput(f"At most {MAX_PROPERTIES} properties.", field=path))
        return out, errors
    for key, value in raw.items():
        name = TRAIT_ALIASES.get(key, key)
        try:
            check_key(name, f"{path}.{key}")
            declared = fields.get(name)
            field_type = declared.type if declared else STANDARD_TYPES.get(name)
            out[name] = coerce(value, field_type, f"{path}.{key}") if field_type else value
        except InvalidInput as error:
            errors.append(error)
    return out, errors
