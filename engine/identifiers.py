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
    try:
        number = phonenumbers.parse(str(value), default_region)
    except phonenumbers.NumberParseException as error:
        raise InvalidInput(f"Not a phone number: {error}.", field="phone") from error
    if not phonenumbers.is_possible_number(number) or not phonenumbers.is_valid_number(number):
        raise InvalidInput("Not a valid phone number; use E.164, like +14155550100.", field="phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


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
