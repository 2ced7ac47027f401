"""Mutation root, composed from each domain's mutations."""

from __future__ import annotations

import strawberry

from schema.accounts import AccountMutations
from schema.campaigns import CampaignMutations
from schema.contacts import ContactMutations
from schema.contacts_csv import ImportMutations
from schema.journeys import JourneyMutations
from schema.messaging import MessagingMutations
from schema.partners import PartnerMutations
from schema.segments import SegmentMutations


@strawberry.type(
    description="Changes; each returns a payload whose userErrors say what went wrong."
)
class Mutation(
    AccountMutations,
    ContactMutations,
    ImportMutations,
    SegmentMutations,
    MessagingMutations,
    CampaignMutations,
    JourneyMutations,
    PartnerMutations,
):
    pass
