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
from datetime import UTC, datetime
from typing import Any

from beanie import PydanticObjectId

from documents.contact import Contact
from documents.segment import Segment
from engine.access import Permission
from engine.errors import Forbidden, InvalidInput
from engine.identifiers import MAX_ID_LENGTH, normalize_email, normalize_phone
from engine.identity import ContactRef, Identity, IdentityIndex
from engine.messages import MAX_BATCH_MESSAGES, Message, parse_message
from engine.segments.rules import event_filters
from engine.stats import stats_name
from engine.traits import FieldDef
from resolvers.accounts.custom_fields import custom_fields
from resolvers.accounts.workspaces import phone_region
from resolvers.core.context import Principal
from resolvers.events.batch import IngestResult, Parsed, Problem, RaceLost
from resolvers.events.contact_writes import (
    insert_new_contacts,
    load_contacts,
    update_contacts,
)
from resolvers.events.merge import merge_contacts
from resolvers.events.store import insert_events
from resolvers.reactions import dispatch
from resolvers.segments import membership

log = logging.getLogger("reach.ingest")


MAX_ATTEMPTS = 3


def _message_id_of(raw: Any) -> str | None:
    """The id a rejected message gave itself, if it can be echoed (valid Unicode)."""
    value = raw.get("messageId") if isinstance(raw, dict) else None
    if not isinstance(value, str):
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return value[:MAX_ID_LENGTH]


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
    if len(raws) > MAX_BATCH_MESSAGES:
        raise InvalidInput(
            f"A batch may hold at most {MAX_BATCH_MESSAGES} messages; send the rest in "
            "another call.",
            field="events",
        )
    workspace_id = principal.workspace_id
    region = await phone_region(workspace_id)
    fields = await custom_fields(workspace_id)
    received_at = datetime.now(UTC)
    result = IngestResult()
    parsed: list[Parsed] = []
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
        parsed.append(Parsed(index, message, identity))
    if not parsed:
        return result
    for attempt in range(MAX_ATTEMPTS):
        try:
            await _store(workspace_id, parsed, fields, result, source)
            return result
        except RaceLost:
            if attempt == MAX_ATTEMPTS - 1:
                raise
            log.info("identity race lost; resolving the batch again")
    return result


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
    parsed: list[Parsed],
    fields: dict[str, FieldDef],
    result: IngestResult,
    source: str,
) -> None:
    docs = {str(d["_id"]): d for d in await load_contacts(workspace_id, parsed)}
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
    ids = await insert_new_contacts(workspace_id, [index.contacts[k] for k in new_keys])
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

    inserted = await insert_events(workspace_id, parsed, source)
    result.accepted += len(inserted)
    result.duplicates += len(parsed) - len(inserted)
    for item in parsed:
        result.contact_ids[item.index] = item.key
    names = {
        stats_name(p.message.type, p.message.event) for i, p in enumerate(parsed) if i in inserted
    }
    filters = await _event_filters(workspace_id, {n for n in names if n})
    changed = await update_contacts(
        workspace_id, parsed, inserted, docs, index, fields, result, filters
    )
    for contact_id in ids.values():  # new contacts: every segment may want them
        changed[contact_id].add(membership.ALL)
    for survivor, _ in merges:
        changed[survivor].add(membership.ALL)
    await membership.reevaluate(workspace_id, changed)
    for survivor, _ in merges:
        await membership.contacts_merged(workspace_id, PydanticObjectId(survivor))
    await dispatch.events_stored(workspace_id, inserted.values())


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
