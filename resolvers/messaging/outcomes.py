"""The outcomes of a delivery batch, recorded together: one `bulk_write` on the message
rows, one `insert_many` of engagement events (with the contacts' activity in one bulk
write, one segment look-up and one listener look-up), one publish per source.

A row's outcome is written only while it is still `sending` under the batch's claim
token, so a row closed in the meantime (the dispatcher's lease) is never overwritten.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from beanie import PydanticObjectId
from bson import ObjectId
from pymongo import UpdateOne

from documents.campaign import Campaign
from documents.contact import Contact
from documents.message import OutboundMessage
from engine.activity import activity_field
from engine.identity import Identity, IdentityIndex
from engine.messages import parse_message
from engine.stats import stats_name, stats_update
from resolvers.core import jobs, live, runtime
from resolvers.events import store
from resolvers.events.batch import IngestResult, Parsed
from resolvers.events.contact_writes import update_contacts
from resolvers.partners import outbox
from resolvers.partners.event_types import EVENT_TYPES
from resolvers.reactions import dispatch as reaction_dispatch
from resolvers.segments import membership

TEXT_LIMIT = 20_000  # characters of each rendered field kept on the row


@dataclass
class Outcome:
    """What happened to one claimed row in this attempt."""

    row: OutboundMessage
    status: str  # sent | failed | skipped | queued (retry) | scheduled (rate limited)
    reason: str | None = None
    provider: str = ""
    provider_message_id: str | None = None
    rendered: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    due_at: datetime | None = None


def _update(outcome: Outcome, now: datetime) -> dict[str, Any]:
    sets: dict[str, Any] = {"status": outcome.status, "reason": outcome.reason}
    update: dict[str, Any] = {"$set": sets}
    if outcome.provider:
        sets["provider"] = outcome.provider
    if outcome.status == "sent":
        sets |= {"sent_at": now, "provider_message_id": outcome.provider_message_id}
        sets["error"] = None
        for name in ("subject", "text", "html"):
            if name in outcome.rendered:
                sets[name] = outcome.rendered[name][:TEXT_LIMIT]
    elif outcome.status == "failed":
        sets |= {"failed_at": now, "error": outcome.reason}
    elif outcome.status == "queued":  # a transient provider error: the job runs again
        sets |= {"error": outcome.error, "due_at": now}
        del sets["reason"]
    elif outcome.status == "scheduled":  # the provider's rate window was full
        sets["due_at"] = outcome.due_at or now + timedelta(seconds=1)
        update["$inc"] = {"attempts": -1}  # a rescheduled send spends no attempt
    return update


async def record(
    workspace_id: PydanticObjectId,
    token: PydanticObjectId,
    outcomes: list[Outcome],
    contacts: dict[PydanticObjectId, dict[str, Any]],
    now: datetime,
) -> None:
    """Write every outcome, then the engagement events of the sent and failed ones."""
    if not outcomes:
        return
    operations = [
        UpdateOne(
            {
                "_id": o.row.id,
                "workspace_id": workspace_id,
                "status": "sending",
                "claim": token,
            },
            _update(o, now),
        )
        for o in outcomes
    ]
    await OutboundMessage.get_pymongo_collection().bulk_write(operations, ordered=False)
    await _keep_held(workspace_id, outcomes)
    engaged = [o for o in outcomes if o.status in ("sent", "failed") and o.row.contact_id]
    await record_engagements(
        workspace_id,
        [(o.row, o.status, now) for o in engaged],
        contacts,
    )
    counts = Counter(f"{o.row.channel}|{o.status}" for o in outcomes)
    redis = runtime.get().redis
    for key, n in counts.items():
        await redis.hincrby(jobs.sends_counter_key(), key, n)
    by_source: dict[str, Counter] = defaultdict(Counter)
    for o in outcomes:
        by_source[o.row.source_id or ""][o.status] += 1
    for source_id, statuses in by_source.items():
        # One note per source and batch: the progress stream re-counts on any note.
        await live.publish(workspace_id, f"sending:{source_id}", {"statuses": dict(statuses)})


async def record_engagements(
    workspace_id: PydanticObjectId,
    entries: list[tuple[OutboundMessage, str, datetime]],
    contacts: dict[PydanticObjectId, dict[str, Any]],
) -> None:
    """`<channel>_<kind>` events for many messages at once: what store.record_engagement
    does for one (same event shape and message ids, so each stays once per message and
    kind), with one insert, one contact bulk write and one segment re-evaluation."""
    if not entries:
        return
    received_at = datetime.now(UTC)
    parsed = []
    for position, (row, kind, at) in enumerate(entries):
        raw = {
            "type": "track",
            "userId": "-",  # parse_message needs an identifier; the contact is known
            "event": f"{row.channel}_{kind}",
            "messageId": f"{kind}:{row.id}",
            "properties": {**engagement_properties(row), "channel": row.channel},
            "timestamp": at.isoformat(),
        }
        message = parse_message(raw, received_at)
        message.user_id = None
        parsed.append(Parsed(position, message, Identity(), key=str(row.contact_id)))
    inserted = await store.insert_events(workspace_id, parsed, "engagement")
    if not inserted:
        return
    await _contact_activity(workspace_id, parsed, inserted, contacts)
    changed: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for position in inserted:
        row, kind, _ = entries[position]
        name = f"{row.channel}_{kind}"
        changed[str(row.contact_id)].add(("event", name))
        if field := activity_field("track", name):
            changed[str(row.contact_id)].add(("field", field))
    await membership.reevaluate(workspace_id, changed)
    await reaction_dispatch.events_stored(workspace_id, inserted.values())
    await outbox.emit_many(
        workspace_id,
        [
            (f"message.{kind}", _partner_view(row, kind, at))
            for row, kind, at in (entries[p] for p in inserted)
            if f"message.{kind}" in EVENT_TYPES
        ],
    )


def _partner_view(row: OutboundMessage, kind: str, at: datetime) -> dict[str, Any]:
    return {
        "message_id": str(row.id),
        "contact_id": str(row.contact_id),
        "channel": row.channel,
        "at": at.isoformat(),
        **engagement_properties(row),
    }


async def _contact_activity(
    workspace_id: PydanticObjectId,
    parsed: list[Parsed],
    inserted: dict[int, dict[str, Any]],
    contacts: dict[PydanticObjectId, dict[str, Any]],
) -> None:
    """The contacts' activity aggregates for the new events. An engagement event carries
    no traits, devices or identifiers, so what events.contact_writes.update_contacts would
    write for it is only its date (engine.activity.activity_field) and the event's stats,
    the same for every contact with one event of one name and time: one update_many per
    (name, time) instead of a bulk of per-contact updates (SecantusDB applies one statement
    to many documents at about half the cost). Contacts with several events in the batch
    take the general path."""
    per_contact = Counter(parsed[i].key for i in inserted)
    groups: dict[tuple[str, datetime], list[PydanticObjectId]] = defaultdict(list)
    rest = {}
    for position in inserted:
        item = parsed[position]
        if per_contact[item.key] == 1:
            groups[(item.message.event, item.message.timestamp)].append(PydanticObjectId(item.key))
        else:
            rest[position] = inserted[position]
    now = datetime.now(UTC)
    collection = Contact.get_pymongo_collection()
    for (name, at), ids in groups.items():
        stats = stats_update([(stats_name("track", name), at)])
        field = activity_field("track", name)
        dates = {field: at} if field else {}
        await collection.update_many(
            {"_id": {"$in": ids}, "workspace_id": workspace_id},
            {
                "$set": {"updated_at": now},
                "$max": {**dates, **stats["$max"]},
                "$inc": stats["$inc"],
                "$min": stats["$min"],
            },
        )
    if rest:
        docs = {str(cid): doc for cid, doc in contacts.items()}
        await update_contacts(workspace_id, parsed, rest, docs, IdentityIndex(), {}, IngestResult())


async def _keep_held(workspace_id: PydanticObjectId, outcomes: list[Outcome]) -> None:
    """A row put back in line (a transient error, a full rate window) while its campaign
    was paused would escape the pause's hold, which ran while the row was `sending`: hold
    it now. Read after our write, so whichever of the two ran last holds it."""
    back = [o.row for o in outcomes if o.status in ("queued", "scheduled")]
    back = [
        row
        for row in back
        if row.source == "campaign" and row.source_id and ObjectId.is_valid(row.source_id)
    ]
    if not back:
        return
    sources = [PydanticObjectId(s) for s in {row.source_id for row in back}]
    paused = await Campaign.get_pymongo_collection().distinct(
        "_id", {"_id": {"$in": sources}, "workspace_id": workspace_id, "status": "paused"}
    )
    held = [row.id for row in back if PydanticObjectId(row.source_id) in set(paused)]
    if held:
        await OutboundMessage.get_pymongo_collection().update_many(
            {
                "_id": {"$in": held},
                "workspace_id": workspace_id,
                "status": {"$in": ["queued", "scheduled"]},
            },
            {"$set": {"status": "paused"}},
        )


def engagement_properties(row: OutboundMessage) -> dict[str, Any]:
    """Where an engagement came from, on its event (segments, goals, journeys read it)."""
    return {
        "message_id": str(row.id),
        "source": row.source,
        "source_id": row.source_id,
        f"{row.source}_id": row.source_id,
        "step": row.step,
        "variant": row.variant,
        "run": row.run,
    }
