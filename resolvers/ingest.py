"""Ingestion: Segment-spec messages in, contacts resolved and merged, events stored.

A batch costs a fixed number of round trips, whatever its size: workspace settings,
custom fields, one lookup of every contact the batch names, one insert of new contacts,
one insert of events (duplicates by message_id are skipped by the unique index), one
bulk update of contacts (properties, identifiers, event aggregates). Merges, rare, cost
a transaction each.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from beanie import PydanticObjectId
from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from documents.contact import Contact, CustomField
from documents.event import Event
from documents.segment import Segment
from engine import contact_search
from engine.access import Permission
from engine.errors import Forbidden, InvalidInput
from engine.identifiers import normalize_email, normalize_phone
from engine.identity import ContactRef, Identity, IdentityIndex, identity_key, identity_keys
from engine.messages import Message, parse_message, profile_traits, push_device
from engine.segments.evaluate import where_matches
from engine.segments.rules import event_filters
from engine.stats import stats_name, stats_update
from engine.traits import FieldDef, normalize_properties
from resolvers import membership, reactions
from resolvers.context import Principal
from resolvers.identity import merge_contacts
from resolvers.workspaces import phone_region

log = logging.getLogger("reach.ingest")
DUPLICATE_KEY = 11000
NEVER = datetime(1970, 1, 1, tzinfo=UTC)
MAX_ATTEMPTS = 3


@dataclass
class Problem:
    index: int
    message_id: str | None
    reason: str
    field: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "messageId": self.message_id,
            "reason": self.reason,
            "field": self.field,
        }


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    # Per input index: the contact the message was attributed to (None if rejected).
    contact_ids: dict[int, str] = field(default_factory=dict)


@dataclass
class _Parsed:
    index: int
    message: Message
    identity: Identity
    key: str = ""  # contact key after resolution


class _RaceLost(Exception):
    """A concurrent ingest created one of our new contacts first: resolve again."""


async def custom_fields(workspace_id: PydanticObjectId) -> dict[str, FieldDef]:
    rows = await CustomField.find({"workspace_id": workspace_id}).to_list()
    return {row.key: FieldDef(row.key, row.type, row.label) for row in rows}


def _message_id_of(raw: Any) -> str | None:
    value = raw.get("messageId") if isinstance(raw, dict) else None
    return value if isinstance(value, str) else None


def _identity(message: Message, region: str | None, index: int, warnings: list) -> Identity:
    email = phone = None
    if message.email is not None:
        try:
            email = normalize_email(message.email)
        except InvalidInput as error:
            warnings.append(Problem(index, message.message_id, f"email ignored: {error}", "email"))
    if message.phone is not None:
        try:
            phone = normalize_phone(message.phone, region)
        except InvalidInput as error:
            warnings.append(Problem(index, message.message_id, f"phone ignored: {error}", "phone"))
    anonymous = tuple(a for a in (message.anonymous_id, message.previous_id) if a)
    return Identity(message.user_id, email, phone, anonymous)


async def ingest(
    principal: Principal,
    raws: list[Any],
    *,
    default_type: str | None = None,
    source: str = "api",
    trait_identity: bool = False,
) -> IngestResult:
    """Store every valid message; report each invalid one with its reason.

    `trait_identity` lets identify messages be identified by email or phone alone (for
    trusted sources such as imports; the public API follows Segment's spec)."""
    if not principal.can(Permission.TRACK):
        raise Forbidden("This credential may not send tracking data.")
    workspace_id = principal.workspace_id
    region = await phone_region(workspace_id)
    fields = await custom_fields(workspace_id)
    received_at = datetime.now(UTC)
    result = IngestResult()
    parsed: list[_Parsed] = []
    seen_ids: set[str] = set()
    for index, raw in enumerate(raws):
        try:
            message = parse_message(raw, received_at, default_type, trait_identity=trait_identity)
        except InvalidInput as error:
            result.rejected.append(Problem(index, _message_id_of(raw), error.message, error.field))
            continue
        identity = _identity(message, region, index, result.warnings)
        if not identity.pairs():
            reason = "No usable identifier: the email or phone given is not valid."
            result.rejected.append(Problem(index, message.message_id, reason, "traits"))
            continue
        if message.message_id in seen_ids:  # repeated inside the batch
            result.duplicates += 1
            continue
        seen_ids.add(message.message_id)
        parsed.append(_Parsed(index, message, identity))
    if not parsed:
        return result
    for attempt in range(MAX_ATTEMPTS):
        try:
            await _store(workspace_id, parsed, fields, result, source)
            return result
        except _RaceLost:
            if attempt == MAX_ATTEMPTS - 1:
                raise
            log.info("identity race lost; resolving the batch again")
    return result


async def _load_contacts(workspace_id: PydanticObjectId, parsed: list[_Parsed]) -> list[dict]:
    """The stored contacts known by any identifier in the batch: one query on the
    identity_keys index."""
    wanted: set[str] = set()
    for item in parsed:
        wanted.update(identity_key(kind, value) for kind, value in item.identity.pairs())
        if item.message.type == "alias":
            wanted.add(identity_key("user_id", item.message.previous_id))
    if not wanted:
        return []
    cursor = Contact.get_pymongo_collection().find(
        {"workspace_id": workspace_id, "identity_keys": {"$in": sorted(wanted)}}
    )
    return await cursor.to_list(None)


def _ref(doc: dict) -> ContactRef:
    return ContactRef(
        key=str(doc["_id"]),
        user_id=doc.get("user_id"),
        email=doc.get("email"),
        phone=doc.get("phone"),
        anonymous_ids=set(doc.get("anonymous_ids") or []),
        created_at=doc.get("created_at"),
    )


async def _store(
    workspace_id: PydanticObjectId,
    parsed: list[_Parsed],
    fields: dict[str, FieldDef],
    result: IngestResult,
    source: str,
) -> None:
    docs = {str(d["_id"]): d for d in await _load_contacts(workspace_id, parsed)}
    index = IdentityIndex([_ref(d) for d in docs.values()])
    redirect: dict[str, str] = {}
    merges: list[tuple[str, str]] = []

    def absorb(survivor: ContactRef, absorbed: list[ContactRef]) -> None:
        for other in absorbed:
            if other.is_new:
                redirect[other.key] = survivor.key
            else:
                merges.append((survivor.key, other.key))

    for item in parsed:
        resolution = index.resolve(item.identity)
        absorb(resolution.contact, resolution.absorbed)
        if item.message.type == "alias":
            # alias(previousId, userId) says two ids are one person: a contact known by
            # the previous *user* id joins too, whatever its user id.
            previous = index.find("user_id", item.message.previous_id)
            if previous is not None and previous is not resolution.contact:
                absorb(*index.force_merge(resolution.contact, previous))
        for kind, value in resolution.dropped:
            result.warnings.append(
                Problem(
                    item.index,
                    item.message.message_id,
                    f"{kind} {value!r} belongs to another contact with a different user id; "
                    "not applied.",
                    kind,
                )
            )
        item.key = resolution.contact.key

    for survivor, loser in merges:
        await merge_contacts(workspace_id, PydanticObjectId(survivor), PydanticObjectId(loser))

    def final(key: str) -> str:
        while key in redirect:
            key = redirect[key]
        return key

    new_keys = dict.fromkeys(final(i.key) for i in parsed if final(i.key).startswith("new:"))
    ids = await _insert_new_contacts(workspace_id, [index.contacts[k] for k in new_keys])
    for item in parsed:
        key = final(item.key)
        item.key = ids.get(key, key)

    if merges:  # the survivors' stored fields changed
        fresh = (
            await Contact.get_pymongo_collection()
            .find(
                {
                    "_id": {"$in": [PydanticObjectId(s) for s, _ in merges]},
                    "workspace_id": workspace_id,
                }
            )
            .to_list(None)
        )
        docs.update({str(d["_id"]): d for d in fresh})

    inserted = await _insert_events(workspace_id, parsed, source)
    result.accepted += len(inserted)
    result.duplicates += len(parsed) - len(inserted)
    for item in parsed:
        result.contact_ids[item.index] = item.key
    names = {
        stats_name(p.message.type, p.message.event) for i, p in enumerate(parsed) if i in inserted
    }
    filters = await _event_filters(workspace_id, {n for n in names if n})
    changed = await _update_contacts(
        workspace_id, parsed, inserted, docs, index, fields, result, filters
    )
    for contact_id in ids.values():  # new contacts: every segment may want them
        changed[contact_id].add(membership.ALL)
    for survivor, _ in merges:
        changed[survivor].add(membership.ALL)
    await membership.reevaluate(workspace_id, changed)
    for survivor, _ in merges:
        await membership.contacts_merged(workspace_id, PydanticObjectId(survivor))
    await reactions.events_stored(workspace_id, inserted.values())


async def _event_filters(
    workspace_id: PydanticObjectId, names: set[str]
) -> dict[str, list[tuple[str, list]]]:
    """event name -> [(aggregate key, where)] for the segments filtering these events."""
    if not names:
        return {}
    rows = (
        await Segment.get_pymongo_collection()
        .find(
            {
                "workspace_id": workspace_id,
                "kind": "dynamic",
                "references": {"$in": [membership.encode_reference(("event", n)) for n in names]},
            },
            {"rules": 1},
        )
        .to_list(None)
    )
    filters: dict[str, list[tuple[str, list]]] = defaultdict(list)
    for row in rows:
        for key, event, where in event_filters(row.get("rules")):
            if (key, where) not in filters[event]:
                filters[event].append((key, where))
    return filters


async def _insert_new_contacts(
    workspace_id: PydanticObjectId, refs: list[ContactRef]
) -> dict[str, str]:
    if not refs:
        return {}
    now = datetime.now(UTC)
    documents = []
    for ref in refs:
        contact_id = PydanticObjectId()
        documents.append(
            {
                "_id": contact_id,
                "workspace_id": workspace_id,
                "user_id": ref.user_id,
                "email": ref.email,
                "phone": ref.phone,
                "anonymous_ids": sorted(ref.anonymous_ids),
                "properties": {},
                "property_times": {},
                "tags": [],
                "segments": [],
                "consent": {},
                "event_stats": {},
                "location_id": None,
                "created_at": now,
                # Raised to the latest event's time by the update that follows ($max).
                "last_active_at": NEVER,
                "updated_at": now,
            }
        )
        documents[-1]["identity_keys"] = identity_keys(documents[-1])
        documents[-1]["search_keys"] = contact_search.search_keys(documents[-1])
    try:
        await Contact.get_pymongo_collection().insert_many(documents, ordered=False)
    except BulkWriteError as error:
        if any(e["code"] == DUPLICATE_KEY for e in error.details["writeErrors"]):
            raise _RaceLost from error
        raise
    return {ref.key: str(doc["_id"]) for ref, doc in zip(refs, documents, strict=True)}


async def _insert_events(
    workspace_id: PydanticObjectId, parsed: list[_Parsed], source: str
) -> dict[int, dict[str, Any]]:
    """Insert every event; return the new ones (index into `parsed` -> stored document)."""
    documents = []
    for item in parsed:
        document = item.message.document()
        document.update(
            {
                "_id": PydanticObjectId(),
                "workspace_id": workspace_id,
                "contact_id": PydanticObjectId(item.key),
                "source": source,
                "created_at": item.message.received_at,
            }
        )
        documents.append(document)
    duplicates: set[int] = set()
    try:
        await Event.get_pymongo_collection().insert_many(documents, ordered=False)
    except BulkWriteError as error:
        for problem in error.details["writeErrors"]:
            if problem["code"] != DUPLICATE_KEY:
                raise
            duplicates.add(problem["index"])
    return {i: documents[i] for i in range(len(parsed)) if i not in duplicates}


async def _update_contacts(
    workspace_id: PydanticObjectId,
    parsed: list[_Parsed],
    inserted: dict[int, dict[str, Any]],
    docs: dict[str, dict],
    index: IdentityIndex,
    fields: dict[str, FieldDef],
    result: IngestResult,
    event_filters: dict[str, list[tuple[str, list]]] | None = None,
) -> dict[str, set[tuple[str, str]]]:
    """One bulk write: properties (latest write wins), identifiers, activity, aggregates.

    Returns what changed on each contact, as segment references, so that only the
    segments reading those are re-evaluated."""
    event_filters = event_filters or {}
    changed: dict[str, set[tuple[str, str]]] = defaultdict(set)
    by_contact: dict[str, list[tuple[int, _Parsed]]] = defaultdict(list)
    for position, item in enumerate(parsed):
        if position in inserted:
            by_contact[item.key].append((position, item))
    now = datetime.now(UTC)
    operations = []
    replaced: list[tuple[str, str, str]] = []  # (contact, kind, old value) to unindex
    failed: set[str] = set()
    for contact_id, items in by_contact.items():
        stored = docs.get(contact_id, {})
        times = dict(stored.get("property_times") or {})
        sets: dict[str, Any] = {"updated_at": now}
        unsets: dict[str, str] = {}
        occurrences = []
        devices: list[dict[str, str]] = []
        last_active = max(item.message.timestamp for _, item in items)
        for _, item in sorted(items, key=lambda pair: pair[1].message.timestamp):
            message = item.message
            name = stats_name(message.type, message.event)
            if name:
                occurrences.append((name, message.timestamp))
                changed[contact_id] |= {("event", name), ("field", "last_active_at")}
                # Aggregates of behaviour conditions with `where` (see engine.segments).
                for key, where in event_filters.get(name, []):
                    if where_matches(where, message.properties, now):
                        occurrences.append((key, message.timestamp))
            device = push_device(message.context)
            if device and device not in devices and device not in stored.get("devices", []):
                devices.append(device)
            traits = profile_traits(message)
            if not traits:
                continue
            props, errors = normalize_properties(traits, fields, "traits")
            for error in errors:
                result.warnings.append(
                    Problem(item.index, message.message_id, error.message, error.field)
                )
            for key, value in props.items():
                known = times.get(key)
                if known is not None and known.tzinfo is None:
                    known = known.replace(tzinfo=UTC)
                if known is not None and message.timestamp < known:
                    continue  # an older write than the one stored
                times[key] = message.timestamp
                changed[contact_id].add(("property", key))
                sets[f"property_times.{key}"] = message.timestamp
                if value is None:
                    unsets[f"properties.{key}"] = ""
                    sets.pop(f"properties.{key}", None)
                else:
                    sets[f"properties.{key}"] = value
                    unsets.pop(f"properties.{key}", None)
        # Identifiers as resolved (dropped ones excluded); new contacts were inserted with them.
        ref = index.contacts.get(contact_id)
        anonymous: set[str] = set()
        new_keys: list[str] = []
        if ref is not None and stored:
            for kind in ("user_id", "email", "phone"):
                if getattr(ref, kind) and getattr(ref, kind) != stored.get(kind):
                    sets[kind] = getattr(ref, kind)
                    changed[contact_id].add(("field", kind))
                    new_keys.append(identity_key(kind, getattr(ref, kind)))
                    if stored.get(kind):
                        replaced.append((contact_id, kind, stored[kind]))
            anonymous = ref.anonymous_ids - set(stored.get("anonymous_ids") or [])
            if anonymous:
                changed[contact_id].add(("field", "anonymous_ids"))
                new_keys += [identity_key("anonymous_id", a) for a in sorted(anonymous)]
        update: dict[str, Any] = {"$set": sets, "$max": {"last_active_at": last_active}}
        if unsets:
            update["$unset"] = unsets
        if new_keys:
            update["$addToSet"] = {
                "anonymous_ids": {"$each": sorted(anonymous)},
                "identity_keys": {"$each": new_keys},
            }
        # Search keys of the values written (stale ones stay; search re-checks the fields).
        written = [sets.get(kind) for kind in contact_search.FIELDS]
        written += [sets.get(f"properties.{p}") for p in contact_search.PROPERTIES]
        found = sorted({k for k in map(contact_search.key, written) if k})
        if found:
            update.setdefault("$addToSet", {})["search_keys"] = {"$each": found}
        if devices:  # newest first, at most MAX_DEVICES (registerDevice keeps the same rule)
            update["$push"] = {"devices": {"$each": devices, "$position": 0, "$slice": 10}}
            changed[contact_id].add(("field", "devices"))
        stats = stats_update(occurrences)
        if stats:
            update["$inc"] = stats["$inc"]
            update["$min"] = stats["$min"]
            update["$max"].update(stats["$max"])
        operations.append(
            ({"_id": PydanticObjectId(contact_id), "workspace_id": workspace_id}, update)
        )
    if not operations:
        return changed
    collection = Contact.get_pymongo_collection()
    try:
        await collection.bulk_write([UpdateOne(f, u) for f, u in operations], ordered=False)
    except BulkWriteError as error:
        # An identifier taken meanwhile by a concurrent ingest: apply the rest without it.
        retry = []
        for problem in error.details["writeErrors"]:
            if problem["code"] != DUPLICATE_KEY:
                raise
            selector, update = operations[problem["index"]]
            for kind in ("user_id", "email", "phone"):
                update["$set"].pop(kind, None)
            adds = update.get("$addToSet", {})
            adds.pop("anonymous_ids", None)
            adds.pop("identity_keys", None)
            if not adds:
                update.pop("$addToSet", None)
            retry.append(UpdateOne(selector, update))
            failed.add(str(selector["_id"]))
        await collection.bulk_write(retry, ordered=False)
    await _drop_replaced_keys(workspace_id, [r for r in replaced if r[0] not in failed])
    return changed


async def _drop_replaced_keys(
    workspace_id: PydanticObjectId, replaced: list[tuple[str, str, str]]
) -> None:
    """Pull the key of an identifier the batch replaced (an email changed), unless a
    concurrent write put the old value back meanwhile."""
    if not replaced:
        return
    await Contact.get_pymongo_collection().bulk_write(
        [
            UpdateOne(
                {"_id": PydanticObjectId(cid), "workspace_id": workspace_id, kind: {"$ne": old}},
                {"$pull": {"identity_keys": identity_key(kind, old)}},
            )
            for cid, kind, old in replaced
        ],
        ordered=False,
    )


ENGAGEMENTS = (
    "sent",
    "delivered",
    "opened",
    "clicked",
    "bounced",
    "replied",
    "unsubscribed",
    "converted",
    "failed",
)


async def record_engagement(
    workspace_id: PydanticObjectId,
    contact_id: PydanticObjectId,
    kind: str,
    channel: str,
    *,
    message_id: str,
    properties: dict[str, Any] | None = None,
    at: datetime | None = None,
    contact: dict[str, Any] | None = None,
) -> bool:
    """Engagement is an ordinary event on the contact: `<channel>_<kind>` (email_opened),
    with the campaign/journey/message ids in its properties, so segments, goals and
    analytics read it like any other. `message_id` makes provider retries idempotent.
    An unsubscribe also records the consent decision. Returns False for a duplicate.
    `contact`, when given, is the contact's stored document (read by the caller)."""
    if kind not in ENGAGEMENTS:
        raise InvalidInput(f"Unknown engagement {kind!r}.", field="kind")
    received_at = datetime.now(UTC)
    raw = {
        "type": "track",
        "userId": "-",  # parse_message needs an identifier; the contact is known already
        "event": f"{channel}_{kind}",
        "messageId": message_id,
        "properties": {**(properties or {}), "channel": channel},
        "timestamp": (at or received_at).isoformat(),
    }
    message = parse_message(raw, received_at)
    message.user_id = None
    item = _Parsed(0, message, Identity(), key=str(contact_id))
    inserted = await _insert_events(workspace_id, [item], "engagement")
    if not inserted:
        return False
    # A caller that just read the contact (a send) passes it: one round trip fewer.
    stored = contact or await Contact.get_pymongo_collection().find_one(
        {"_id": contact_id, "workspace_id": workspace_id}
    )
    await _update_contacts(
        workspace_id,
        [item],
        inserted,
        {str(contact_id): stored or {}},
        IdentityIndex(),
        {},
        IngestResult(),
    )
    refs = {("event", f"{channel}_{kind}")}
    if kind == "unsubscribed":
        decision = {"status": "unsubscribed", "at": message.timestamp, "source": "engagement"}
        await Contact.get_pymongo_collection().update_one(
            {"_id": contact_id, "workspace_id": workspace_id},
            {"$set": {f"consent.{channel}": decision}},
        )
        refs.add(("consent", channel))
    await membership.reevaluate(workspace_id, {str(contact_id): refs})
    await reactions.events_stored(workspace_id, inserted.values())
    return True
