"""Identity resolution: which contact a message belongs to, and which contacts it joins.

Rules (seed 001): match on user_id, then email, then phone, then anonymous id. A message
whose identifiers point at two contacts merges them, except that two contacts with
different user_ids are two different people and never merge: the lower-priority
identifier that points at the other one is dropped from the message instead.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.contact_search import search_keys
from engine.stats import combine_stats

_new_keys = itertools.count(1)


@dataclass
class Identity:
    user_id: str | None = None
    email: str | None = None
    phone: str | None = None
    anonymous_ids: tuple[str, ...] = ()

    def pairs(self) -> list[tuple[str, str]]:
        """(kind, value) in resolution priority."""
        out = []
        for kind in ("user_id", "email", "phone"):
            value = getattr(self, kind)
            if value:
                out.append((kind, value))
        out += [("anonymous_id", a) for a in self.anonymous_ids]
        return out


@dataclass
class ContactRef:
    """What identity resolution knows of a contact: its identifiers."""

    key: str  # the stored id, or "new:N" for one this batch creates
    user_id: str | None = None
    email: str | None = None
    phone: str | None = None
    anonymous_ids: set[str] = field(default_factory=set)
    created_at: datetime | None = None

    @property
    def is_new(self) -> bool:
        return self.key.startswith("new:")

    def pairs(self) -> list[tuple[str, str]]:
        return Identity(self.user_id, self.email, self.phone, tuple(self.anonymous_ids)).pairs()


@dataclass
class Resolution:
    contact: ContactRef
    absorbed: list[ContactRef] = field(default_factory=list)  # merged into `contact`
    dropped: list[tuple[str, str]] = field(default_factory=list)  # identifiers not applied


def _conflict(a: ContactRef, b: ContactRef) -> bool:
    return bool(a.user_id and b.user_id and a.user_id != b.user_id)


class IdentityIndex:
    """Identifiers -> contacts for one batch, updated as messages are resolved."""

    def __init__(self, contacts: list[ContactRef] = ()) -> None:
        self._by: dict[tuple[str, str], ContactRef] = {}
        self.contacts: dict[str, ContactRef] = {}
        for contact in contacts:
            self._add(contact)

    def _add(self, contact: ContactRef) -> None:
        self.contacts[contact.key] = contact
        for pair in contact.pairs():
            self._by[pair] = contact

    def _remove(self, contact: ContactRef) -> None:
        self.contacts.pop(contact.key, None)
        for pair in contact.pairs():
            if self._by.get(pair) is contact:
                del self._by[pair]

    def find(self, kind: str, value: str) -> ContactRef | None:
        return self._by.get((kind, value))

    def resolve(self, identity: Identity) -> Resolution:
        found: list[tuple[tuple[str, str], ContactRef]] = []
        seed = None
        for pair in identity.pairs():
            contact = self._by.get(pair)
            if contact is None and pair[0] == "user_id":
                # A user id nobody has yet is a person of its own: it decides conflicts
                # (a device's anonymous id of another user does not capture it).
                contact = seed = ContactRef(key=f"new:{next(_new_keys)}", user_id=pair[1])
            if contact is not None:
                found.append((pair, contact))
        if not found:
            contact = ContactRef(key=f"new:{next(_new_keys)}")
            self._assign(contact, identity, [])
            self._add(contact)
            return Resolution(contact)

        joined: list[ContactRef] = [found[0][1]]
        for _, other in found[1:]:
            if any(other is member for member in joined):
                continue
            if not any(_conflict(other, member) for member in joined):
                joined.append(other)
        # Every identifier that points at a contact left out is not applied.
        dropped = [pair for pair, c in found if not any(c is member for member in joined)]
        # The survivor keeps its id: a stored contact over a new one, a known user over
        # an anonymous one, then the one found by the highest-priority identifier.
        survivor = min(joined, key=lambda c: (c.is_new, c.user_id is None, joined.index(c)))
        absorbed = [c for c in joined if c is not survivor]
        for contact in [survivor, *absorbed]:
            self._remove(contact)
        for other in absorbed:
            for kind in ("user_id", "email", "phone"):
                if getattr(survivor, kind) is None and getattr(other, kind):
                    setattr(survivor, kind, getattr(other, kind))
            survivor.anonymous_ids |= other.anonymous_ids
        self._assign(survivor, identity, dropped)
        self._add(survivor)
        # A seed made for an unseen user id holds no data: there is nothing to merge from it.
        absorbed = [c for c in absorbed if c is not seed]
        return Resolution(survivor, absorbed, dropped)

    def force_merge(self, keep: ContactRef, other: ContactRef) -> tuple[ContactRef, list]:
        """alias: `other` is the same person as `keep`, whatever its user id. The alias's
        user id (keep's) stays the user id; other user ids become previous ids."""
        user_id = keep.user_id
        if keep.is_new and not other.is_new:
            keep, other = other, keep
        self._remove(keep)
        self._remove(other)
        previous = {keep.user_id, other.user_id} - {user_id, None}
        keep.user_id = user_id
        for kind in ("email", "phone"):
            if not getattr(keep, kind):
                setattr(keep, kind, getattr(other, kind))
        keep.anonymous_ids |= other.anonymous_ids | previous
        self._add(keep)
        return keep, [other]

    def _assign(self, contact: ContactRef, identity: Identity, dropped: list) -> None:
        """The message's identifiers now belong to `contact` (latest write wins)."""
        for kind in ("user_id", "email", "phone"):
            value = getattr(identity, kind)
            if not value or (kind, value) in dropped:
                continue
            owner = self._by.get((kind, value))
            if owner is not None and owner is not contact:
                dropped.append((kind, value))  # someone else's, and not mergeable
            elif kind == "user_id" and contact.user_id and contact.user_id != value:
                dropped.append((kind, value))  # a contact's user_id never changes
            else:
                setattr(contact, kind, value)
        contact.anonymous_ids |= {
            a for a in identity.anonymous_ids if ("anonymous_id", a) not in dropped
        }


# A contact's identifiers as one multikey field, so that a single plain unique index serves
# every identity lookup ({workspace_id, identity_keys: {$in: [...]}}) on both planners.
KEY_PREFIX = {"user_id": "user", "email": "email", "phone": "phone", "anonymous_id": "anon"}


def identity_key(kind: str, value: str) -> str:
    return f"{KEY_PREFIX[kind]}:{value}"


def identity_keys(doc: dict[str, Any]) -> list[str]:
    """Every key the contact document is known by; `contact:<id>` keeps the array non-empty
    (a unique multikey index indexes an empty array once per workspace, as a duplicate)."""
    keys = {f"contact:{doc['_id']}"}
    for kind in ("user_id", "email", "phone"):
        if doc.get(kind):
            keys.add(identity_key(kind, doc[kind]))
    keys.update(identity_key("anonymous_id", a) for a in doc.get("anonymous_ids") or [])
    return sorted(keys)


def merge_documents(survivor: dict[str, Any], loser: dict[str, Any]) -> dict[str, Any]:
    """The survivor's fields after absorbing the loser (both stored contact documents).

    Properties combine with the latest write winning (per key, by property_times);
    tags, anonymous ids and segments union; consent keeps the latest decision per
    channel; identifiers the survivor lacks are taken from the loser.
    """
    props = dict(survivor.get("properties") or {})
    times = dict(survivor.get("property_times") or {})
    for key, value in (loser.get("properties") or {}).items():
        theirs = (loser.get("property_times") or {}).get(key)
        mine = times.get(key)
        if key not in props or (theirs and (mine is None or theirs > mine)):
            props[key] = value
            if theirs:
                times[key] = theirs
    consent = dict(survivor.get("consent") or {})
    for channel, decision in (loser.get("consent") or {}).items():
        mine = consent.get(channel)
        newer = decision.get("at") and mine and mine.get("at") and decision["at"] > mine["at"]
        if mine is None or newer:
            consent[channel] = decision
    merged = {
        "properties": props,
        "property_times": times,
        "tags": sorted(set(survivor.get("tags") or []) | set(loser.get("tags") or [])),
        "anonymous_ids": sorted(
            set(survivor.get("anonymous_ids") or []) | set(loser.get("anonymous_ids") or [])
        ),
        "segments": sorted(set(survivor.get("segments") or []) | set(loser.get("segments") or [])),
        "consent": consent,
        "event_stats": combine_stats(
            survivor.get("event_stats") or {}, loser.get("event_stats") or {}
        ),
    }
    for kind in ("user_id", "email", "phone", "location_id"):
        merged[kind] = survivor.get(kind) or loser.get(kind)
    for key, pick in (("created_at", min), ("last_active_at", max), ("last_messaged_at", max)):
        values = [v for v in (survivor.get(key), loser.get(key)) if v is not None]
        merged[key] = pick(values) if values else None
    merged["identity_keys"] = identity_keys({"_id": survivor["_id"], **merged})
    merged["search_keys"] = search_keys(merged)
    return merged
