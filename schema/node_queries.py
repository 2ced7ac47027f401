"""`node(id:)` and `nodes(ids:)`: any object back from its global id.

Each type's ids go to that type's DataLoader (schema.loaders, the resolvers' `*_by_ids`
fetchers), so `nodes` of mixed types costs one query per type, scoped to the caller's
workspace: another workspace's id, a deleted document or an unknown type is null.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

import strawberry

from engine import global_ids
from engine.errors import InvalidInput
from resolvers.accounts import api_keys, locations, sdk_properties, users, workspaces
from resolvers.campaigns import define as campaigns
from resolvers.contacts import csv_import, read
from resolvers.core import audit
from resolvers.journeys import define as journeys
from resolvers.messaging import inbox, message_log, providers, templates
from resolvers.partners import endpoints
from resolvers.segments import define as segments
from schema.accounts_types import ApiKey, AuditEntry, Invitation, Location, Property, Workspace
from schema.campaigns import Campaign
from schema.contacts import Contact, Event
from schema.contacts_csv import ImportJob
from schema.journeys import Journey, JourneyEnrollment
from schema.loaders import Fetch, load_one
from schema.messaging import ChannelConfig, InboxItem, Message, Template
from schema.node import Node
from schema.partners import WebhookDelivery, WebhookEndpoint
from schema.segments import Segment

MAX_NODES = 100

# GraphQL type name -> (its fetcher, its constructor from a document).
NODE_TYPES: dict[str, tuple[Fetch, Callable[[Any], Node]]] = {
    "ApiKey": (api_keys.api_keys_by_ids, ApiKey.of),
    "AuditEntry": (audit.audit_entries_by_ids, AuditEntry.of),
    "Campaign": (campaigns.campaigns_by_ids, Campaign.of),
    "ChannelConfig": (providers.channel_configs_by_ids, ChannelConfig.of),
    "Contact": (read.contacts_by_ids, Contact.of),
    "Event": (read.events_by_ids, Event.of),
    "ImportJob": (csv_import.import_jobs_by_ids, ImportJob.of),
    "InboxItem": (inbox.inbox_items_by_ids, InboxItem.of),
    "Invitation": (users.invitations_by_ids, Invitation.of),
    "Journey": (journeys.journeys_by_ids, Journey.of),
    "JourneyEnrollment": (journeys.enrollments_by_ids, JourneyEnrollment.of),
    "Location": (locations.locations_by_ids, Location.of),
    "Message": (message_log.messages_by_ids, Message.of),
    "Property": (sdk_properties.properties_by_ids, Property.of),
    "Segment": (segments.segments_by_ids, Segment.of),
    "Template": (templates.templates_by_ids, Template.of),
    "WebhookDelivery": (endpoints.deliveries_by_ids, WebhookDelivery.of),
    "WebhookEndpoint": (endpoints.endpoints_by_ids, WebhookEndpoint.of),
    "Workspace": (workspaces.workspaces_by_ids, Workspace.of),
}


async def _node(info: strawberry.Info, value: str) -> Node | None:
    # The ID scalar has decoded a global id into its raw hex (with `.kind`); a raw
    # ObjectId names no type, so it cannot be a node id.
    kind = getattr(value, "kind", None)
    if kind is None:
        decoded = global_ids.decode(str(value))
        kind, value = decoded if decoded else (None, value)
    entry = NODE_TYPES.get(kind) if kind else None
    if entry is None:
        return None
    fetch, build = entry
    doc = await load_one(info, fetch, str(value))
    return build(doc) if doc is not None else None


@strawberry.type
class NodeQueries:
    @strawberry.field(description="Any object by its global id; null if not found here.")
    async def node(
        self,
        info: strawberry.Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="A global id.")],
    ) -> Node | None:
        return await _node(info, id)

    @strawberry.field(
        description=f"Objects by global id, in order (null where not found); at most {MAX_NODES}."
    )
    async def nodes(
        self,
        info: strawberry.Info,
        ids: Annotated[list[strawberry.ID], strawberry.argument(description="Global ids.")],
    ) -> list[Node | None]:
        if len(ids) > MAX_NODES:
            raise InvalidInput(f"`ids` may hold at most {MAX_NODES} ids.", field="ids")
        return list(await asyncio.gather(*(_node(info, i) for i in ids)))
