"""Shared document bases: timestamps and the workspace scope every tenant row carries."""

from __future__ import annotations

from datetime import UTC, datetime

from beanie import Document, PydanticObjectId
from pydantic import Field

# The earliest date Reach stores. On SecantusDB a one-sided `{$lte: t}` on an indexed date
# reads the index from its start, null and missing values included (MongoDB brackets the
# bounds by type itself): sweeps over mostly-null dates say `up_to(t)` instead.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EARLIEST = datetime(1, 1, 1, tzinfo=UTC)  # below any date a client may send (event times)


def up_to(moment: datetime, *, inclusive: bool = True) -> dict[str, datetime]:
    """A date range from EPOCH to `moment`: the dates only, on both planners."""
    return {"$gte": EPOCH, ("$lte" if inclusive else "$lt"): moment}


def utcnow() -> datetime:
    return datetime.now(UTC)


class TimestampedDocument(Document):
    created_at: datetime = Field(default_factory=utcnow)


class TenantDocument(TimestampedDocument):
    """A document owned by one workspace. Every query on it must filter by workspace_id."""

    workspace_id: PydanticObjectId
