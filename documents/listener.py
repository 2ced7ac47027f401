"""Listeners: which event names something is waiting for, per workspace.

Journeys (triggers, waits, exits) and campaigns (triggers, conversion goals) register the
event names they react to here, so the ingest path asks one indexed question per batch
("does anyone listen to these names?") and does nothing more when nobody does.
"""

from __future__ import annotations

from pymongo import ASCENDING, IndexModel

from documents.base import TenantDocument


class Listener(TenantDocument):
    event: str  # engine.event_names.name_key of an event name: order_completed
    owner: str  # "journey:<id>" | "campaign:<id>"
    purpose: str  # trigger | wait | exit | goal

    class Settings:
        name = "listeners"
        indexes = [
            IndexModel([("workspace_id", ASCENDING), ("event", ASCENDING)]),
            IndexModel(
                [
                    ("workspace_id", ASCENDING),
                    ("owner", ASCENDING),
                    ("purpose", ASCENDING),
                    ("event", ASCENDING),
                ],
                unique=True,
            ),
        ]
