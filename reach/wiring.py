"""The one place where reacting domains meet the events stored below them.

`resolvers.reactions` keeps the listener table and dispatches stored events by listener
kind; it imports no domain above it. Each reacting domain exposes its handler in its
own `listeners.py`; this module registers them, and every process (server, worker,
tests, benches) calls `wire()` while opening its services.
"""

from __future__ import annotations

from resolvers.campaigns import listeners as campaign_listeners
from resolvers.journeys import listeners as journey_listeners
from resolvers.reactions import dispatch


def wire() -> None:
    # Journeys first: a goal event ends a run before a triggered campaign reacts to it,
    # the order the runner had before reactions became a registry.
    dispatch.register(journey_listeners.KIND, journey_listeners.on_events)
    dispatch.register(campaign_listeners.KIND, campaign_listeners.on_events)
