"""Real-time segment membership: contacts enter and exit segments as they change.

Membership lives on the contact (`contact.segments`), the count on the segment
(`member_count`, moved with $inc). Each transition is also recorded as an ordinary event
on the contact (`segment_entered` / `segment_exited`, with the segment's id and name in
its properties) and published live on the workspace topics `segment:<id>:count`
({"count": n}) and `segment:<id>:changes` ({"contactId", "change"}).

Two ways in:

- `reevaluate(workspace_id, {contact_id: {reference, ...}})` after contacts changed:
  only the dynamic segments whose rules read one of the changed references are
  evaluated (in Python, engine.segments.evaluate), against the contacts as stored. A
  transition is itself a change of ("segment", id), so segments built on other segments
  follow, a bounded number of rounds.
- `recompute(segment)` for a whole audience (a new or edited segment, the scheduled
  refresh of time windows): one query for the contacts entering (filter and not a member)
  and one for those exiting (member and not the filter), then the same transitions.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from beanie import PydanticObjectId

from documents.contact import Contact
from documents.segment import Segment
from engine.payload_limits import chunks
from engine.segments import evaluate
from engine.segments import rules as rule_language
from resolvers.segments.transitions import (
    ENTERED,
    EXITED,
    Move,
    Transitions,
    apply_many,
    recount,
)

log = logging.getLogger("reach.segments")


# A reference meaning "anything may have changed" (a new or merged contact): every
# dynamic segment of the workspace is evaluated for that contact.
ALL = ("*", "*")


MAX_ROUNDS = rule_language.MAX_DEPTH + 2  # segments on segments: chains are finite


def encode_reference(reference: tuple[str, str]) -> str:
    kind, value = reference
    return f"{kind}:{value}"


def stored_references(rules: Any) -> list[str]:
    return sorted(encode_reference(r) for r in rule_language.references(rules))


def segment_references(segment: Segment) -> set[tuple[str, str]]:
    refs = set()
    for text in segment.references:
        kind, _, value = text.partition(":")
        refs.add((kind, value))
    return refs


def audience_scope(segment: Segment) -> dict[str, Any]:
    """The flat filter of the contacts a segment can hold (its workspace, and its outlet
    when it has one): an index prefix. The rules are then evaluated in Python on each,
    by engine.segments.evaluate, which tests hold equal to the compiled MongoDB filter —
    a compiled filter ($and/$or/$nor/$expr) is served by no index on either planner."""
    scope: dict[str, Any] = {"workspace_id": segment.workspace_id}
    if segment.location_id is not None:
        scope["location_id"] = segment.location_id
    return scope


def is_member(segment: Segment, contact: dict[str, Any], now: datetime) -> bool:
    if segment.location_id is not None and contact.get("location_id") != segment.location_id:
        return False
    return evaluate.matches(segment.rules, contact, now)


async def reevaluate(
    workspace_id: PydanticObjectId,
    changed: dict[str, set[tuple[str, str]]],
    *,
    now: datetime | None = None,
) -> Transitions:
    """Re-evaluate the dynamic segments that read what changed on these contacts.

    `changed` maps a contact id to the references that changed on it, shaped as
    engine.segments.rules.references() returns them (("property", key), ("field", name),
    ("event", name), ("tag", tag), ("consent", channel), ("segment", id)), or ALL.
    Costs one segment query per round, plus, when some segment is affected, one contact
    query and the writes of the transitions (one per contact moved, whatever the number
    of segments it moves in or out of: transitions.apply_many)."""
    now = now or datetime.now(UTC)
    done = Transitions()
    pending = {cid: set(refs) for cid, refs in changed.items() if refs}
    for _ in range(MAX_ROUNDS):
        if not pending:
            break
        wanted = set().union(*pending.values())
        query: dict[str, Any] = {"workspace_id": workspace_id, "kind": "dynamic"}
        if ALL not in wanted:
            query["references"] = {"$in": sorted(encode_reference(r) for r in wanted)}
        segments = await Segment.find(query).to_list()
        if not segments:
            break
        refs_of = {str(s.id): segment_references(s) for s in segments}
        ids = [PydanticObjectId(cid) for cid in pending]
        docs = []
        for some in chunks(ids):  # a batch of 2,500 new contacts: bounded $in lists
            docs += (
                await Contact.get_pymongo_collection()
                .find({"_id": {"$in": list(some)}, "workspace_id": workspace_id})
                .to_list(None)
            )
        entered: dict[str, list[PydanticObjectId]] = defaultdict(list)
        exited: dict[str, list[PydanticObjectId]] = defaultdict(list)
        ordered = _dependencies_first(segments)
        for doc in docs:
            refs = set(pending.get(str(doc["_id"]), set()))
            member_of = set(doc.get("segments") or [])
            for segment in ordered:
                sid = str(segment.id)
                if ALL not in refs and not (refs & refs_of[sid]):
                    continue
                # Segments built on segments see this round's decisions (evaluated after
                # what they depend on), so a contact never flaps in and out.
                inside = is_member(segment, {**doc, "segments": sorted(member_of)}, now)
                if inside and sid not in member_of:
                    entered[sid].append(doc["_id"])
                    member_of.add(sid)
                    refs.add(("segment", sid))
                elif not inside and sid in member_of:
                    exited[sid].append(doc["_id"])
                    member_of.discard(sid)
                    refs.add(("segment", sid))
        if not entered and not exited:
            break
        pending = {}
        by_id = {str(s.id): s for s in segments}
        moves = [
            Move(by_id[sid], entered.get(sid, []), exited.get(sid, []))
            for sid in set(entered) | set(exited)
        ]
        for sid, (moved_in, moved_out) in (await apply_many(workspace_id, moves, now)).items():
            _follow(pending, sid, moved_in, moved_out, done)
    else:
        log.warning("segment re-evaluation stopped after %d rounds", MAX_ROUNDS)
    return done


def _dependencies_first(segments: list[Segment]) -> list[Segment]:
    """Segments ordered so that one using in_segment comes after the segments it reads."""
    by_id = {str(s.id): s for s in segments}
    ordered: list[Segment] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done; rules are acyclic (validated)

    def visit(sid: str) -> None:
        if state.get(sid):
            return
        state[sid] = 1
        for dependency in rule_language.segment_dependencies(by_id[sid].rules):
            if dependency in by_id:
                visit(dependency)
        state[sid] = 2
        ordered.append(by_id[sid])

    for sid in by_id:
        visit(sid)
    return ordered


def _follow(
    pending: dict[str, set[tuple[str, str]]],
    sid: str,
    moved_in: list[PydanticObjectId],
    moved_out: list[PydanticObjectId],
    done: Transitions,
) -> None:
    """Transitions are changes too: of ("segment", id) and of the events they record."""
    for contact_id in moved_in:
        done.entered[sid].append(str(contact_id))
        pending.setdefault(str(contact_id), set()).update({("segment", sid), ("event", ENTERED)})
    for contact_id in moved_out:
        done.exited[sid].append(str(contact_id))
        pending.setdefault(str(contact_id), set()).update({("segment", sid), ("event", EXITED)})


async def cascade(workspace_id: PydanticObjectId, sid: str, done: Transitions) -> Transitions:
    """After a whole-audience change of one segment: segments built on it follow."""
    pending: dict[str, set[tuple[str, str]]] = {}
    _follow(pending, sid, done.entered.get(sid, []), done.exited.get(sid, []), Transitions())
    if pending:
        done.add(await reevaluate(workspace_id, pending))
    return done


async def contacts_merged(workspace_id: PydanticObjectId, survivor_id: PydanticObjectId) -> None:
    """After a merge: the survivor holds the union of both memberships (and the loser is
    gone), so recount those segments and re-evaluate every dynamic one on the survivor."""
    doc = await Contact.get_pymongo_collection().find_one(
        {"_id": survivor_id, "workspace_id": workspace_id}, {"segments": 1}
    )
    if doc is None:
        return
    await recount(workspace_id, doc.get("segments") or [])
    await reevaluate(workspace_id, {str(survivor_id): {ALL}})


async def contact_deleted(workspace_id: PydanticObjectId, segment_ids: Iterable[str]) -> None:
    """A contact was erased: it leaves the counts of the segments it was in."""
    await recount(workspace_id, segment_ids)
