"""Contact identifiers: normalisation of emails and phones, and how they rank."""

from __future__ import annotations

import phonenumbers

from engine.errors import InvalidInput
from engine.names import clean_email

# Resolution order: the first identifier a contact is found by decides who it is.
IDENTIFIER_PRIORITY = ("user_id", "email", "phone", "anonymous_id")
MAX_ID_LENGTH = 200


def normalize_phone(value: str, default_region: str | None = None) -> str:
    """E.164 (+14155550100). Without a leading + the workspace's country is assumed."""
    text = str(value).strip()
    shown = _shown(text)
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as error:
        raise InvalidInput(_parse_problem(error, text, shown), field="phone") from error
    if not phonenumbers.is_possible_number(number) or not phonenumbers.is_valid_number(number):
        raise InvalidInput(
            f"phone '{shown}' is not a valid phone number; use E.164, like +14155550100.",
            field="phone",
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _shown(text: str) -> str:
    """The caller's own value, safe to echo in an error: printable and short."""
    printable = "".join(ch for ch in text if ch.isprintable())
    return printable[:32] + ("…" if len(printable) > 32 else "")


def _parse_problem(error: phonenumbers.NumberParseException, text: str, shown: str) -> str:
    """The library's reasons in the caller's terms (its own text names its internals)."""
    kind = error.error_type
    if kind == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
        if text.startswith("+"):
            return f"phone '{shown}' starts with an unknown country code."
        return (
            f"phone '{shown}' has no country code; write it as +<country code>{shown} "
            "or set the workspace's defaultCountry."
        )
    if kind in (
        phonenumbers.NumberParseException.TOO_SHORT_NSN,
        phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD,
    ):
        return f"phone '{shown}' is too short to be a phone number."
    if kind == phonenumbers.NumberParseException.TOO_LONG:
        return f"phone '{shown}' is too long to be a phone number."
    return f"phone '{shown}' is not a phone number."


def normalize_email(value: str) -> str:
    return clean_email(str(value), "email")


def normalize_id(value: object, field: str) -> str:
    """userId / anonymousId: strings or numbers (as Segment allows), kept as strings."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidInput(f"{field} must be a string.", field=field)
    text = str(value).strip()
    if not text:
        raise InvalidInput(f"{field} must not be empty.", field=field)
    if len(text) > MAX_ID_LENGTH:
        raise InvalidInput(f"{field} may be at most {MAX_ID_LENGTH} characters.", field=field)
    return text


def clean_country(value: str, field: str = "defaultCountry") -> str:
    """An ISO 3166 alpha-2 region phone numbers can be read in (IN, US, GB, ...)."""
    code = str(value).strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidInput(
            f"Unknown country code {code[:8]!r}; use ISO 3166 (IN, US).", field=field
        )
    return code
