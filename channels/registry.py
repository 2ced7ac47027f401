"""Which providers serve which channel, which config fields are secrets, and building one.

A channel's config is a plain dict {"provider": name, ...fields}; the caller stores it
(secret fields encrypted at rest) and layers per-location overrides before calling here.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from channels import fcm, inbox, sandbox, smtp, twilio, webhook, webpush
from channels.base import Provider

CHANNELS = ("email", "sms", "whatsapp", "rcs", "push", "web_push", "in_app", "webhook")

PROVIDERS_BY_CHANNEL: dict[str, tuple[str, ...]] = {
    "email": ("smtp", "sandbox"),
    "sms": ("twilio", "sandbox"),
    "whatsapp": ("twilio", "sandbox"),
    "rcs": ("twilio", "sandbox"),
    "push": ("fcm", "sandbox"),
    "web_push": ("vapid", "sandbox"),
    "webhook": ("webhook", "sandbox"),
    "in_app": ("inbox", "sandbox"),  # the caller's stored row is the inbox entry
}

PROVIDER_MODULES: dict[str, ModuleType] = {
    "smtp": smtp,
    "twilio": twilio,
    "fcm": fcm,
    "vapid": webpush,
    "webhook": webhook,
    "sandbox": sandbox,
    "inbox": inbox,
}

# Fields to encrypt at rest. The SMTP url only when it carries a password: see secret_fields.
SECRET_FIELDS: dict[str, tuple[str, ...]] = {
    "smtp": ("url",),
    "twilio": ("auth_token",),
    "fcm": ("access_token",),
    "vapid": ("vapid_private_key",),
    "webhook": ("secret",),
    "sandbox": (),
    "inbox": (),
}

_SECRET_WHEN: dict[tuple[str, str], Callable[[Any], bool]] = {
    ("smtp", "url"): smtp.url_has_password,
}


def secret_fields(config: dict[str, Any]) -> tuple[str, ...]:
    """The fields of this config that hold a secret (and so are encrypted at rest)."""
    provider = config.get("provider") if isinstance(config, dict) else None
    fields = SECRET_FIELDS.get(provider, ()) if isinstance(provider, str) else ()
    return tuple(
        name
        for name in fields
        if name in config and _SECRET_WHEN.get((provider, name), bool)(config[name])
    )


def validate(channel: str, config: Any) -> list[str]:
    """Every problem with using `config` for `channel`, in words a user can act on."""
    if channel not in CHANNELS:
        return [f"channel {channel!r} is not one of {', '.join(CHANNELS)}"]
    allowed = PROVIDERS_BY_CHANNEL[channel]
    if not isinstance(config, dict):
        return [f"the {channel} configuration must be an object with a provider"]
    provider = config.get("provider")
    if not isinstance(provider, str) or not provider:
        return [f"provider is required (one of {', '.join(allowed)})"]
    if provider not in allowed:
        return [f"provider {provider[:40]!r} cannot send {channel} (use {' or '.join(allowed)})"]
    return PROVIDER_MODULES[provider].problems(config)


def build(channel: str, config: Any) -> Provider:
    """The provider for `config`; ValueError lists the problems when it is not usable."""
    found = validate(channel, config)
    if found:
        raise ValueError(f"{channel} configuration: " + "; ".join(found))
    return PROVIDER_MODULES[config["provider"]].from_config(config)
