"""Push targets of a contact: FCM device tokens and web push subscriptions."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from documents.contact import Contact
from engine.access import Permission
from engine.errors import InvalidInput, NotFound
from resolvers.contacts import read
from resolvers.core.context import RequestContext

MAX_DEVICES = 10


def _device(kind: str, token: str | None, subscription: dict[str, Any] | None) -> dict[str, Any]:
    if kind == "fcm":
        if not isinstance(token, str) or not 10 <= len(token) <= 4096:
            raise InvalidInput("An FCM token of 10..4096 characters is needed.", field="token")
        return {"kind": "fcm", "token": token}
    if kind == "web":
        if not isinstance(subscription, dict):
            raise InvalidInput("A web push subscription object is needed.", field="subscription")
        endpoint = subscription.get("endpoint")
        keys = subscription.get("keys") or {}
        if not isinstance(endpoint, str) or urlsplit(endpoint).scheme not in ("https", "http"):
            raise InvalidInput("subscription.endpoint must be a URL.", field="subscription")
        if not isinstance(keys, dict) or not all(
            isinstance(keys.get(k), str) and keys.get(k) for k in ("p256dh", "auth")
        ):
            raise InvalidInput(
                "subscription.keys needs p256dh and auth.", field="subscription.keys"
            )
        return {
            "kind": "web",
            "subscription": {
                "endpoint": endpoint,
                "keys": {"p256dh": keys["p256dh"], "auth": keys["auth"]},
            },
        }
    raise InvalidInput("kind must be fcm or web.", field="kind")


async def register(
    ctx: RequestContext,
    contact_id: str,
    kind: str,
    token: str | None = None,
    subscription: dict[str, Any] | None = None,
) -> Contact:
    """Newest first; the same device registered again moves to the front; at most 10."""
    ctx.require(Permission.WRITE)
    device = _device(kind, token, subscription)
    contact = await read.get_contact(ctx, contact_id)
    if contact is None:
        raise NotFound("No such contact.", field="contactId")
    kept = [d for d in contact.devices if d != device]
    contact.devices = [device, *kept][:MAX_DEVICES]
    await Contact.get_pymongo_collection().update_one(
        {"_id": contact.id, "workspace_id": ctx.workspace_id},
        {"$set": {"devices": contact.devices}},
    )
    return contact
