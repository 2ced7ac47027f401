"""Funnel steps over one contact's events, and the step table over many contacts.

A contact's events are (time, order, steps matched) sorted by (time, order); `order`
breaks ties so one event never counts for two steps. An attempt starts at an event of
step 1 (`entry`); the funnel is then followed inside [entry, entry + window]:
- ORDERED: each next step is the earliest later event of that step (other events may
  come between); greedy earliest is optimal for ordered matching.
- STRICT: each next step is the very next event among the funnel's events (events of the
  funnel's step names, step filters aside): any other one in between ends the attempt.
- ANY: steps 2..n may happen in any order after the entry; each step takes the earliest
  unused event of it. Its "seconds from previous" is measured from the entry.
A contact's result is its best attempt (deepest; the earliest entry among equals).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime

ORDERS = ("strict", "ordered", "any")
MIN_STEPS, MAX_STEPS = 2, 10
MAX_WINDOW_SECONDS = 366 * 86400


@dataclass(frozen=True)
class Hit:
    at: datetime
    order: int  # a stable tiebreak (the event's id order)
    steps: frozenset[int]  # which step indices (0-based) this event matches


@dataclass(frozen=True)
class Path:
    """How far one contact got: the times of the steps reached, and the entry event."""

    times: tuple[datetime, ...]
    entry: Hit

    @property
    def depth(self) -> int:
        return len(self.times)


def _attempt(hits: list[Hit], start: int, n: int, window: float, order: str) -> list[datetime]:
    entry = hits[start]
    limit = entry.at.timestamp() + window
    times = [entry.at]
    if order == "any":
        used = {start}
        for step in range(1, n):
            found = next(
                (
                    i
                    for i in range(start + 1, len(hits))
                    if i not in used and step in hits[i].steps and hits[i].at.timestamp() <= limit
                ),
                None,
            )
            if found is None:
                break
            used.add(found)
            times.append(hits[found].at)
        return times
    position = start
    for step in range(1, n):
        if order == "strict":
            nxt = position + 1
            if nxt < len(hits) and step in hits[nxt].steps and hits[nxt].at.timestamp() <= limit:
                position = nxt
                times.append(hits[nxt].at)
                continue
            break
        found = next(
            (i for i in range(position + 1, len(hits)) if step in hits[i].steps),
            None,
        )
        if found is None or hits[found].at.timestamp() > limit:
            break
        position = found
        times.append(hits[found].at)
    return times


def best_path(hits: list[Hit], n: int, window_seconds: float, order: str) -> Path | None:
    """The contact's deepest attempt, or None when it never entered (no step-1 event)."""
    hits = sorted(hits, key=lambda h: (h.at, h.order))
    best: Path | None = None
    for i, hit in enumerate(hits):
        if 0 not in hit.steps:
            continue
        times = _attempt(hits, i, n, window_seconds, order)
        if best is None or len(times) > best.depth:
            best = Path(tuple(times), hit)
            if best.depth == n:
                break
    return best


@dataclass
class StepRow:
    index: int
    count: int
    conversion_rate: float
    step_conversion_rate: float
    drop_off: int
    median_seconds_from_previous: float | None


def step_table(paths: list[Path], n: int, order: str) -> list[StepRow]:
    """Per step: contacts reaching it, the rate from step 1 and from the step before, the
    drop-off from the step before, and the median seconds from the previous step (from
    the entry for ANY)."""
    rows = []
    counts = [sum(1 for p in paths if p.depth > k) for k in range(n)]
    for k in range(n):
        gaps = [
            (p.times[k] - p.times[0 if order == "any" else k - 1]).total_seconds()
            for p in paths
            if k > 0 and p.depth > k
        ]
        previous = counts[k - 1] if k else counts[0]
        rows.append(
            StepRow(
                index=k,
                count=counts[k],
                conversion_rate=counts[k] / counts[0] if counts[0] else 0.0,
                step_conversion_rate=(counts[k] / previous if previous else 0.0)
                if k
                else (1.0 if counts[0] else 0.0),
                drop_off=previous - counts[k] if k else 0,
                median_seconds_from_previous=float(statistics.median(gaps)) if gaps else None,
            )
        )
    return rows
