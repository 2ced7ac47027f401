"""Subscription root: live streams over graphql-transport-ws.

Fields need no credential re-check of their own: reach/credential_ws.py re-checks the
connection's credential for every operation on the socket (Reach issue 13)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from resolvers.core import audit
from schema.accounts_types import AuditEntry
from schema.analytics import AnalyticsSubscriptions
from schema.campaigns import CampaignSubscriptions
from schema.contacts_csv import ImportSubscriptions
from schema.messaging import MessagingSubscriptions
from schema.segments import SegmentSubscriptions


@strawberry.type(
    description="Live streams over graphql-transport-ws; each ends when its credential is "
    "revoked or loses the permission it needs."
)
class Subscription(
    ImportSubscriptions,
    SegmentSubscriptions,
    MessagingSubscriptions,
    CampaignSubscriptions,
    AnalyticsSubscriptions,
):
    @strawberry.subscription(description="Each new audit entry of this workspace, as it happens.")
    async def audit_log(self, info: strawberry.Info) -> AsyncGenerator[AuditEntry]:
        async for entry in audit.watch(info.context.caller()):
            yield AuditEntry.of(entry)
