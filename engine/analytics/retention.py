"""Retention cohorts: contacts grouped by the bucket of their first start event, and how
many come back with the return event in each later period (a triangle: a cohort only has
the periods that have begun before the range ends).

Period k of a cohort is the k-th bucket after the cohort's own (local days or weeks in the
zone). Period 0 counts a return event at or after the contact's first start event in the
cohort's own bucket.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from engine.analytics.buckets import Buckets

MAX_PERIODS = 60


@dataclass
class Cohort:
    start: datetime
    size: int
    returned: list[int]


def cohorts(
    grid: Buckets,
    firsts: dict[object, datetime],
    returns: Iterable[tuple[object, int, datetime]],
    periods: int,
) -> list[Cohort]:
    """`grid` spans the cohorts' range and the periods after it; `firsts` maps a contact to
    its first start event (inside the cohort range); `returns` holds (contact, bucket index,
    latest return time in that bucket) for the return event."""
    first_bucket = {c: grid.index(at) for c, at in firsts.items()}
    sizes: dict[int, int] = {}
    for b in first_bucket.values():
        if b is not None:
            sizes[b] = sizes.get(b, 0) + 1
    hits: dict[tuple[int, int], set] = {}
    for contact, bucket, latest in returns:
        b = first_bucket.get(contact)
        if b is None:
            continue
        k = bucket - b
        if k < 0 or k >= periods:
            continue
        if k == 0 and latest < firsts[contact]:
            continue
        hits.setdefault((b, k), set()).add(contact)
    out = []
    for b, start in enumerate(grid.starts):
        available = min(periods, len(grid.starts) - b)
        if b not in sizes:
            out.append(Cohort(start, 0, [0] * available))
            continue
        out.append(Cohort(start, sizes[b], [len(hits.get((b, k), ())) for k in range(available)]))
    return out
