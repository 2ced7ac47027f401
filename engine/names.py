"""Validation and normalisation of names, codes, emails and passwords."""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from zoneinfo import available_timezones

from email_validator import EmailNotValidError, validate_email

from engine.errors import InvalidInput

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


def clean_name(value: str, field: str, max_length: int = 120) -> str:
    """Trim a display name; reject empty, overlong or control-character names."""
    name = unicodedata.normalize("NFC", value).strip()
    if not name:
        raise InvalidInput("Name must not be empty.", field=field)
    if len(name) > max_length:
        raise InvalidInput(f"Name may be at most {max_length} characters.", field=field)
    if _CONTROL.search(name):
        raise InvalidInput("Name must not contain control characters.", field=field)
    return name


def clean_code(value: str, field: str) -> str:
    """Outlet codes appear in URLs: lower-case letters, digits and dashes."""
    code = value.strip().lower()
    if not _CODE.match(code):
        raise InvalidInput(
            "Code must be 1-40 lower-case letters, digits or dashes, starting with a letter "
            "or digit.",
            field=field,
        )
    return code


def clean_email(value: str, field: str) -> str:
    """RFC 5321/5322 syntax as email-validator reads it, strict about the 64-character
    local part (no DNS: checks stay offline). The library only judges: the address is kept
    as written, lower-cased whole, because identity resolution keys contacts (and logins
    find users) by that form; its normalised form (Unicode domains, say) would not match
    what is stored."""
    email = value.strip()
    if not email or len(email) > 254:
        raise InvalidInput("Not a valid email address.", field=field)
    try:
        checked = validate_email(email, check_deliverability=False, strict=True)
    except EmailNotValidError as error:
        raise InvalidInput(f"Not a valid email address: {error}", field=field) from error
    if len(checked.ascii_domain.rsplit(".", 1)[-1]) < 2:  # no top-level domain is one letter
        raise InvalidInput("Not a valid email address: its domain is incomplete.", field=field)
    return email.lower()


def email_key(value: str) -> str:
    """How a stored login email is looked up: the same lower-cased form, without judging
    its syntax again (an address accepted by an older check must still log in)."""
    return value.strip().lower()[:320]


@cache
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def clean_timezone(value: str, field: str) -> str:
    """An IANA zone name. Checked against the known set: ZoneInfo(value) would open
    files named by the caller (region folders and over-long names raise OSError)."""
    if value not in _timezones():
        raise InvalidInput(f"Unknown timezone {value[:64]!r}.", field=field)
    return value


def check_password(value: str, field: str) -> str:
    if len(value) < 10:
        raise InvalidInput("Password must be at least 10 characters.", field=field)
    if len(value) > 256:
        raise InvalidInput("Password may be at most 256 characters.", field=field)
    return value
