"""Live segment counts under ingestion: delay to the subscriber, evaluations per event.

    .venv/bin/python -m bench.segments [--batches 60] [--batch-size 10] [--users 5000]
                                       [--connections 1] [--timeout 5]

Starts its own embedded MongoDB and Redis (or uses MONGODB_URI / REDIS_URL) and a uvicorn
server on loopback (bench.harness). Setup (not measured): a tenant, a number custom field
`ltv`, 20 dynamic segments through createSegment with mixed rules (properties, a tag,
behaviour with counts and windows, engagement, reachable, all/any/not, one in_segment, and
some reading events the load never sends), then --users contacts made by identify (email,
city, plan, ltv), and a segmentMemberCount subscription for each segment over
--connections graphql-transport-ws connections.

Measured: --batches POSTs to /v1/batch of --batch-size messages (identify changing city,
plan or ltv; track order_completed; page), one batch at a time. After each batch the
segments whose member count moved are known (from the transitions reevaluate returned in
this process); the run waits for the update of each to reach the subscriber (or
--timeout seconds). Reports:

- delay of each count update from the batch's acceptance (its HTTP response) and from the
  POST being sent, p50/p99/max in ms. Ingestion re-evaluates segments before it answers,
  so an update may reach the subscriber before the response does (a negative delay);
- evaluations (calls of resolvers.membership.is_member) per accepted event, against the
  baseline "every segment for every touched contact" (20 x touched contacts per batch);
- evaluations of a segment none of whose references changed on that contact (ingested,
  or a transition of that contact in the same re-evaluation): the target is 0, and in
  particular the segments reading only what the load never touches are never evaluated.

Server and client share one event loop, so the delays include the client's own work.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import websockets
from beanie import PydanticObjectId

from bench import report
from bench.harness import bench_server
from documents.segment import Segment
from resolvers.accounts.bootstrap import provision
from resolvers.segments import membership, transitions

CITIES = ["Lisbon", "Oslo", "Austin", "Mumbai"]
PLANS = ["free", "plus", "pro"]
COUNT = "subscription($id: ID!) { segmentMemberCount(segmentId: $id) }"
CREATE = (
    "mutation($input: SegmentInput!) { createSegment(input: $input) "
    "{ segment { id memberCount } userErrors { field message } } }"
)
DEFINE_FIELD = (
    'mutation { defineCustomField(key: "ltv", type: NUMBER, label: "Lifetime value") '
    "{ userErrors { field message } } }"
)
ORDER = "order_completed"


def city(name: str) -> dict[str, Any]:
    return {"property": "city", "op": "eq", "value": name}


PAID = {"property": "plan", "op": "in", "value": ["plus", "pro"]}
HIGH_LTV = {"property": "ltv", "op": "gt", "value": 500}


def orders(n: int, within_days: int | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"event": ORDER, "count": {"gte": n}}
    if within_days:
        rule["within_days"] = within_days
    return rule


# (name, rules, touched by the load?) in creation order; "@lisbon-paid" is replaced by
# that segment's id. The untouched ones read only tags, engagement, consent/email and
# events the load never sends.
SEGMENTS: list[tuple[str, Any, bool]] = [
    ("lisbon", city("Lisbon"), True),
    ("oslo", city("Oslo"), True),
    ("paid", PAID, True),
    ("free", {"property": "plan", "op": "eq", "value": "free"}, True),
    ("high-ltv", HIGH_LTV, True),
    ("buyer", orders(1), True),
    ("repeat-30d", orders(3, within_days=30), True),
    ("whale", orders(6), True),
    ("browser", {"event": "page_viewed", "count": {"gte": 3}, "within_days": 7}, True),
    ("lisbon-paid", {"all": [city("Lisbon"), PAID]}, True),
    ("oslo-or-repeat", {"any": [city("Oslo"), orders(2)]}, True),
    ("paid-not-oslo", {"all": [PAID, {"not": city("Oslo")}]}, True),
    (
        "active-untagged",
        {
            "all": [
                {"property": "last_active_at", "op": "within_last_days", "value": 7},
                {"not": {"tag": "churned"}},
            ]
        },
        True,
    ),
    ("valuable-nordic", {"all": [HIGH_LTV, {"any": [city("Oslo"), orders(4)]}]}, True),
    ("lisbon-paid-buyer", {"all": [{"in_segment": "@lisbon-paid"}, orders(1)]}, True),
    ("vip-tag", {"tag": "vip"}, False),
    ("email-openers", {"engagement": "opened", "channel": "email", "within_days": 30}, False),
    ("email-reachable", {"reachable": "email"}, False),
    ("refunded", {"event": "refund_issued"}, False),
    (
        "newsletter-recent",
        {"any": [{"event": "newsletter_subscribed", "within_days": 90}, {"tag": "press"}]},
        False,
    ),
]


def resolve_ids(rule: Any, ids: dict[str, str]) -> Any:
    if isinstance(rule, dict):
        return {
            k: (ids[v[1:]] if k == "in_segment" else resolve_ids(v, ids)) for k, v in rule.items()
        }
    if isinstance(rule, list):
        return [resolve_ids(r, ids) for r in rule]
    return rule


# --- what happens in the server (same process) ---------------------------------------------


@dataclass
class Probe:
    """Wraps membership.is_member and membership.reevaluate (looked up as module
    attributes by ingestion and as module globals inside membership, so the wrappers are
    what runs). Batches are sent one at a time, so calls are attributed to one batch."""

    measuring: bool = False
    evaluations: Counter[str] = field(default_factory=Counter)  # by segment id
    irrelevant: Counter[str] = field(default_factory=Counter)  # by segment id
    touched: int = 0  # contacts with changed references, summed over batches
    calls: list[tuple[str, str, set[tuple[str, str]]]] = field(default_factory=list)
    moved: dict[str, int] = field(default_factory=dict)  # segment id -> net delta, last batch
    # A contact that entered and exited one segment within one re-evaluation (by segment id).
    transient: Counter[str] = field(default_factory=Counter)

    def install(self) -> None:
        is_member, reevaluate = membership.is_member, membership.reevaluate

        def counting_is_member(segment, contact, now):
            if self.measuring:
                refs = membership.segment_references(segment)
                self.calls.append((str(segment.id), str(contact["_id"]), refs))
            return is_member(segment, contact, now)

        async def recording_reevaluate(workspace_id, changed, **kwargs):
            if not self.measuring:
                return await reevaluate(workspace_id, changed, **kwargs)
            self.calls = []
            done = await reevaluate(workspace_id, changed, **kwargs)
            self.touched += sum(1 for refs in changed.values() if refs)
            self._classify(changed, done)
            for sid in set(done.entered) | set(done.exited):
                into, out = done.entered.get(sid, []), done.exited.get(sid, [])
                self.transient[sid] += len(set(into) & set(out))
                delta = len(into) - len(out)
                self.moved[sid] = self.moved.get(sid, 0) + delta
            return done

        membership.is_member = counting_is_member
        membership.reevaluate = recording_reevaluate

    def _classify(self, changed: dict, done: transitions.Transitions) -> None:
        """An evaluation is relevant when the segment reads something that changed on
        the contact: an ingested change or one of its transitions (later rounds)."""
        what: dict[str, set[tuple[str, str]]] = defaultdict(set)
        for cid, refs in changed.items():
            what[str(cid)] |= set(refs)
        for moves, event in (
            (done.entered, transitions.ENTERED),
            (done.exited, transitions.EXITED),
        ):
            for sid, contact_ids in moves.items():
                for cid in contact_ids:
                    what[str(cid)] |= {("segment", sid), ("event", event)}
        for sid, cid, refs in self.calls:
            self.evaluations[sid] += 1
            if membership.ALL not in what[cid] and not refs & what[cid]:
                self.irrelevant[sid] += 1
        self.calls = []


# --- the subscriber -------------------------------------------------------------------------


@dataclass
class Subscriber:
    """segmentMemberCount for every segment; arrivals (time, count) by segment id."""

    sockets: list[Any] = field(default_factory=list)
    op_segment: dict[str, str] = field(default_factory=dict)
    arrivals: dict[str, list[tuple[float, int]]] = field(default_factory=lambda: defaultdict(list))
    initial: dict[str, int] = field(default_factory=dict)
    errors: list[Any] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task] = field(default_factory=list)

    async def start(self, base_url: str, key: str, segment_ids: list[str], n: int) -> None:
        url = base_url.replace("http", "ws") + "/graphql"
        for _ in range(n):
            ws = await websockets.connect(url, subprotocols=["graphql-transport-ws"])
            init = {"type": "connection_init", "payload": {"authorization": f"Bearer {key}"}}
            await ws.send(json.dumps(init))
            ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert ack["type"] == "connection_ack", ack
            self.sockets.append(ws)
            self.tasks.append(asyncio.create_task(self._read(ws)))
        for i, sid in enumerate(segment_ids):
            op = str(i + 1)
            self.op_segment[op] = sid
            payload = {"query": COUNT, "variables": {"id": sid}}
            ws = self.sockets[i % n]
            await ws.send(json.dumps({"id": op, "type": "subscribe", "payload": payload}))
        deadline = time.monotonic() + 20
        while len(self.initial) < len(segment_ids):
            assert time.monotonic() < deadline, f"initial counts: {len(self.initial)}"
            assert not self.errors, self.errors[:3]
            await asyncio.sleep(0.01)

    async def _read(self, ws) -> None:
        try:
            async for raw in ws:
                now = time.perf_counter()
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "ping":
                    await ws.send(json.dumps({"type": "pong"}))
                    continue
                if kind != "next" or message["payload"].get("errors"):
                    self.errors.append(message)
                    continue
                sid = self.op_segment[message["id"]]
                count = message["payload"]["data"]["segmentMemberCount"]
                if sid not in self.initial:
                    self.initial[sid] = count
                else:
                    self.arrivals[sid].append((now, count))
                    self.arrived.set()
        except websockets.ConnectionClosed:
            pass

    async def close(self) -> None:
        for ws in self.sockets:
            await ws.close()
        await asyncio.gather(*self.tasks, return_exceptions=True)


# --- the load -------------------------------------------------------------------------------


def setup_messages(users: int, rng: random.Random) -> list[dict[str, Any]]:
    return [
        {
            "type": "identify",
            "userId": f"user-{u:05d}",
            "messageId": f"setup-{u}-{uuid.uuid4().hex[:8]}",
            "traits": {
                "email": f"user-{u:05d}@example.com",
                "firstName": f"User{u}",
                "city": rng.choice(CITIES),
                "plan": rng.choice(PLANS),
                "ltv": rng.randint(0, 1000),
            },
        }
        for u in range(users)
    ]


def load_batch(rng: random.Random, users: int, size: int, number: int) -> list[dict[str, Any]]:
    """Messages that move contacts in and out: trait changes (no identifiers: those are
    set at setup), orders and page views, timestamped now (windows apply)."""
    start = datetime.now(UTC)
    messages = []
    for i in range(size):
        user = rng.randrange(users)
        common = {
            "userId": f"user-{user:05d}",
            "messageId": f"load-{number}-{i}-{uuid.uuid4().hex[:8]}",
            "timestamp": (start + timedelta(microseconds=i)).isoformat(),
        }
        kind = rng.choices(["city", "plan", "ltv", "order", "page"], [25, 15, 10, 30, 20])[0]
        if kind == "city":
            messages.append({"type": "identify", **common, "traits": {"city": rng.choice(CITIES)}})
        elif kind == "plan":
            messages.append({"type": "identify", **common, "traits": {"plan": rng.choice(PLANS)}})
        elif kind == "ltv":
            messages.append({"type": "identify", **common, "traits": {"ltv": rng.randint(0, 1000)}})
        elif kind == "order":
            total = round(rng.uniform(10, 200), 2)
            properties = {"order_id": common["messageId"], "total": total}
            messages.append({"type": "track", **common, "event": ORDER, "properties": properties})
        else:
            messages.append({"type": "page", **common, "name": "Home", "properties": {}})
    return messages


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


# --- the run --------------------------------------------------------------------------------


@dataclass
class Update:
    sid: str
    from_accept_ms: float
    from_send_ms: float


async def main(
    batches: int,
    batch_size: int,
    users: int,
    connections: int,
    timeout: float,
    seed: int,
    json_path: str | None = None,
) -> int:
    rng = random.Random(seed)
    probe = Probe()
    probe.install()
    async with bench_server("segments") as bench:
        tenant = await provision(
            "Bench", f"bench-{uuid.uuid4().hex[:6]}@example.com", "bench password"
        )
        auth = httpx.BasicAuth(tenant.write_key, "")
        headers = {"Authorization": f"Bearer {tenant.secret_key}"}
        async with httpx.AsyncClient(base_url=bench.base_url, timeout=120) as client:

            async def gql(query: str, variables: dict | None = None) -> dict:
                response = await client.post(
                    "/graphql", json={"query": query, "variables": variables}, headers=headers
                )
                body = response.json()
                assert response.status_code == 200 and not body.get("errors"), body
                return body["data"]

            async def post(messages: list[dict]) -> dict:
                response = await client.post("/v1/batch", json={"batch": messages}, auth=auth)
                assert response.status_code == 200, response.text
                answer = response.json()
                assert not answer["rejected"], answer["rejected"][:3]
                return answer

            # --- setup (not measured) ---
            setup_started = time.perf_counter()
            data = await gql(DEFINE_FIELD)
            assert not data["defineCustomField"]["userErrors"], data
            ids: dict[str, str] = {}
            names: dict[str, str] = {}
            untouched: set[str] = set()
            for name, rules, touched in SEGMENTS:
                variables = {"input": {"name": name, "rules": resolve_ids(rules, ids)}}
                result = (await gql(CREATE, variables))["createSegment"]
                assert not result["userErrors"], (name, result["userErrors"])
                ids[name] = sid = result["segment"]["id"]
                names[sid] = name
                if not touched:
                    untouched.add(sid)
            # Contacts after the segments: each enters all its segments in one write per
            # contact (transitions.apply_many), instead of one recompute per segment.
            contacts = setup_messages(users, rng)
            for start in range(0, len(contacts), 100):
                await post(contacts[start : start + 100])
            subscriber = Subscriber()
            await subscriber.start(bench.base_url, tenant.secret_key, list(names), connections)
            last = dict(subscriber.initial)

            print(
                f"{len(SEGMENTS)} segments ({len(untouched)} reading only what the load never "
                f"touches), {users} contacts, {batches} batches of {batch_size}, "
                f"{connections} websocket connection(s), engine: {bench.engine}; "
                f"setup {time.perf_counter() - setup_started:.1f} s"
            )

            # --- measured ---
            updates: list[Update] = []
            missed: list[tuple[int, str]] = []
            unexpected = 0
            accepted = 0
            http_ms: list[float] = []
            probe.measuring = True
            started = time.perf_counter()
            for number in range(batches):
                messages = load_batch(rng, users, batch_size, number)
                probe.moved = {}
                for sid in subscriber.arrivals:
                    subscriber.arrivals[sid].clear()
                subscriber.arrived.clear()
                sent = time.perf_counter()
                answer = await post(messages)
                accepted_at = time.perf_counter()
                accepted += answer["accepted"]
                http_ms.append((accepted_at - sent) * 1000)
                expected = {sid: last[sid] + delta for sid, delta in probe.moved.items() if delta}
                pending = dict(expected)
                deadline = accepted_at + timeout
                while True:
                    for sid in list(pending):
                        for at, count in subscriber.arrivals[sid]:
                            if count == pending[sid]:
                                updates.append(
                                    Update(sid, (at - accepted_at) * 1000, (at - sent) * 1000)
                                )
                                del pending[sid]
                                break
                    remaining = deadline - time.perf_counter()
                    if not pending or remaining <= 0:
                        break
                    subscriber.arrived.clear()
                    try:
                        await asyncio.wait_for(subscriber.arrived.wait(), remaining)
                    except TimeoutError:
                        pass
                missed.extend((number, sid) for sid in pending)
                for sid, received in subscriber.arrivals.items():
                    if sid not in expected and received:
                        unexpected += len(received)
                    if received:
                        last[sid] = received[-1][1]
                for sid, count in expected.items():
                    last[sid] = count
            elapsed = time.perf_counter() - started
            probe.measuring = False
            await subscriber.close()
            assert not subscriber.errors, subscriber.errors[:3]

            stored = {
                str(s.id): s.member_count
                for s in await Segment.find(
                    {"workspace_id": PydanticObjectId(tenant.workspace_id)}
                ).to_list()
            }

    _report(
        names,
        untouched,
        probe,
        updates,
        missed,
        unexpected,
        accepted,
        http_ms,
        elapsed,
        batches,
        stored,
        last,
    )
    from_send = [u.from_send_ms for u in updates]
    mismatched = [s for s in names if stored.get(s) != last.get(s)]
    report.write(
        json_path,
        "segments",
        f"{len(names)} segments, {users} contacts, {batches} batches of {batch_size}",
        [
            report.below(
                "POST -> subscriber count update, p99",
                percentile(from_send, 99) / 1000 if from_send else float("inf"),
                1.0,
                "s",
            ),
            report.at_most("count updates missed", len(missed), 0),
            report.at_most("final counts differing from stored", len(mismatched), 0),
            report.context(
                "evaluations per event vs every segment for every touched contact",
                sum(probe.evaluations.values()) / max(len(names) * probe.touched, 1),
            ),
        ],
    )
    # A target not met is a figure (in --json and above), not a failed run.
    return 0 if json_path or (from_send and not missed and not mismatched) else 1


def _ms(values: list[float]) -> str:
    if not values:
        return f"{'-':>8} {'-':>8} {'-':>8}"
    return f"{percentile(values, 50):8.1f} {percentile(values, 99):8.1f} {max(values):8.1f}"


def _report(
    names: dict[str, str],
    untouched: set[str],
    probe: Probe,
    updates: list[Update],
    missed: list[tuple[int, str]],
    unexpected: int,
    accepted: int,
    http_ms: list[float],
    elapsed: float,
    batches: int,
    stored: dict[str, int],
    last: dict[str, int],
) -> None:
    evaluations = sum(probe.evaluations.values())
    baseline = len(names) * probe.touched
    by_segment: dict[str, list[Update]] = defaultdict(list)
    for update in updates:
        by_segment[update.sid].append(update)
    missed_by: Counter[str] = Counter(sid for _, sid in missed)

    print(f"\nper segment ({elapsed:.1f} s measured, {accepted} events accepted):")
    print(
        f"  {'segment':20} {'touched':>7} {'evals':>7} {'irrelevant':>10} {'updates':>7} "
        f"{'missed':>6} {'p50 ms':>7} {'count':>6}"
    )
    for sid, name in names.items():
        mine = [u.from_accept_ms for u in by_segment[sid]]
        p50 = f"{statistics.median(mine):7.1f}" if mine else f"{'-':>7}"
        print(
            f"  {name:20} {'no' if sid in untouched else 'yes':>7} {probe.evaluations[sid]:7d} "
            f"{probe.irrelevant[sid]:10d} {len(mine):7d} {missed_by[sid]:6d} {p50} "
            f"{stored.get(sid, -1):6d}"
        )

    from_accept = [u.from_accept_ms for u in updates]
    from_send = [u.from_send_ms for u in updates]
    print("\ncount update delay (ms):           p50      p99      max")
    print(f"  from acceptance (HTTP response) {_ms(from_accept)}")
    print(f"  from POST sent                  {_ms(from_send)}")
    print(f"  POST /v1/batch round trip       {_ms(http_ms)}")
    early = sum(1 for d in from_accept if d < 0)
    print(
        f"  updates received {len(updates)}, before the HTTP response {early}, "
        f"missed (none within the timeout) {len(missed)}, "
        f"unexpected (for a segment whose count did not move) {unexpected}"
    )
    untouched_evals = sum(probe.evaluations[sid] for sid in untouched)
    irrelevant = sum(probe.irrelevant.values())
    mismatched = [names[s] for s in names if stored.get(s) != last.get(s)]
    print("\nevaluations (calls of membership.is_member):")
    print(f"  total                                  {evaluations:8d}")
    print(f"  per accepted event                     {evaluations / max(accepted, 1):8.3f}")
    print(f"  contacts touched (summed over batches) {probe.touched:8d}")
    print(f"  baseline: {len(names)} segments x touched contacts   {baseline:8d}")
    print(f"  baseline per accepted event            {baseline / max(accepted, 1):8.3f}")
    print(f"  ratio evaluations / baseline           {evaluations / max(baseline, 1):8.3f}")
    print(f"  evaluations not reading any change     {irrelevant:8d}  (target 0)")
    print(f"  evaluations of untouched segments      {untouched_evals:8d}  (target 0)")
    transient = ", ".join(f"{names[s]} {n}" for s, n in probe.transient.items() if n)
    print(
        f"  contacts entering and exiting one segment within one batch: "
        f"{sum(probe.transient.values())}" + (f" ({transient})" if transient else "")
    )
    print(
        f"  final counts seen by the subscriber == stored: {'yes' if not mismatched else 'no'}"
        + (f" ({', '.join(mismatched)})" if mismatched else "")
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=1, help="websocket connections")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait per batch")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", help="write the figures here (bench.report)")
    args = parser.parse_args()
    raise SystemExit(
        asyncio.run(
            main(
                args.batches,
                args.batch_size,
                args.users,
                args.connections,
                args.timeout,
                args.seed,
                args.json,
            )
        )
    )
