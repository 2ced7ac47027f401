"""Connect Beanie to MongoDB through PyMongo's async driver."""

from __future__ import annotations

from beanie import init_beanie
from pymongo import AsyncMongoClient

from documents.audit import AuditEntry
from documents.campaign import Campaign
from documents.channel import ChannelConfig
from documents.contact import Contact, ContactAlias, CustomField
from documents.credential import ApiKey
from documents.event import Event
from documents.import_job import ImportFile, ImportJob
from documents.inbox import InboxMessage
from documents.journey import Enrollment, Journey, JourneyVersion
from documents.listener import Listener
from documents.message import OutboundMessage
from documents.organization import AgencyLink, Organization
from documents.partner_webhook import WebhookDelivery, WebhookEndpoint
from documents.segment import Segment
from documents.template import Template
from documents.upgrade import upgrade
from documents.user import Invitation, Membership, User
from documents.workspace import Location, Property, Workspace

DOCUMENT_MODELS = [
    Organization,
    AgencyLink,
    Workspace,
    Location,
    Property,
    User,
    Membership,
    Invitation,
    ApiKey,
    AuditEntry,
    OutboundMessage,
    Contact,
    ContactAlias,
    CustomField,
    Event,
    ImportJob,
    ImportFile,
    Segment,
    Listener,
    ChannelConfig,
    Template,
    InboxMessage,
    Journey,
    JourneyVersion,
    Enrollment,
    Campaign,
    WebhookEndpoint,
    WebhookDelivery,
]


async def connect(uri: str, database: str, event_listeners: list | None = None) -> AsyncMongoClient:
    """Open a client, bind every document class to `database` and create indexes."""
    client: AsyncMongoClient = AsyncMongoClient(
        uri, tz_aware=True, uuidRepresentation="standard", event_listeners=event_listeners or []
    )
    await upgrade(client[database])  # before the declared indexes are built over new fields
    await init_beanie(database=client[database], document_models=DOCUMENT_MODELS)
    return client


async def ping(client: AsyncMongoClient) -> None:
    await client.admin.command("ping")
