"""Query root, composed from each domain's queries."""

from __future__ import annotations

import strawberry

from schema.accounts import AccountQueries
from schema.analytics import AnalyticsQueries
from schema.campaigns import CampaignQueries
from schema.contacts import ContactQueries
from schema.contacts_csv import ImportQueries
from schema.journeys import JourneyQueries
from schema.messaging import MessagingQueries
from schema.node_queries import NodeQueries
from schema.partners import PartnerQueries
from schema.segments import SegmentQueries
from schema.segments_language import SegmentLanguageQueries


@strawberry.type(description="Reads, all scoped to the workspace the credentials act in.")
class Query(
    AccountQueries,
    ContactQueries,
    ImportQueries,
    SegmentQueries,
    SegmentLanguageQueries,
    MessagingQueries,
    CampaignQueries,
    JourneyQueries,
    PartnerQueries,
    AnalyticsQueries,
    NodeQueries,
):
    pass
