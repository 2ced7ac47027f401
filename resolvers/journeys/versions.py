"""Journey versions: the graph frozen at each publish, and what the runner reads of it
(cached per process: a version never changes once stored).
"""

from __future__ import annotations

import time
from typing import Any

from beanie import PydanticObjectId
from pymongo.errors import DuplicateKeyError

from documents.journey import Journey, JourneyVersion
from documents.workspace import Workspace
from engine.errors import Conflict
from engine.journeys import graph as journey_graph
from engine.journeys.model import Graph


async def freeze_version(
    journey: Journey, checked: journey_graph.Checked, options: dict[str, Any]
) -> int:
    """Store the graph as the next version; returns its number."""
    version = journey.version + 1
    try:
        await JourneyVersion(
            workspace_id=journey.workspace_id,
            journey_id=journey.id,
            version=version,
            nodes=checked.nodes,
            edges=checked.edges,
            settings=options,
        ).insert()
    except DuplicateKeyError as error:  # another edit published this number first
        raise Conflict(
            "The journey changed meanwhile; reload and try again.", field="id"
        ) from error
    return version


_versions: dict[tuple[str, int], tuple[Graph, dict[str, Any]]] = {}


_zones: dict[PydanticObjectId, tuple[float, str]] = {}


async def version_graph(
    workspace_id: PydanticObjectId, journey_id: PydanticObjectId, version: int
) -> tuple[Graph, dict[str, Any]] | None:
    """A published version's graph and settings (immutable, so cached per process)."""
    key = (str(journey_id), version)
    if key not in _versions:
        found = await JourneyVersion.get_pymongo_collection().find_one(
            {"workspace_id": workspace_id, "journey_id": journey_id, "version": version}
        )
        if found is None:
            return None
        _versions[key] = (Graph.of(found["nodes"], found["edges"]), found.get("settings") or {})
    return _versions[key]


async def workspace_timezone(workspace_id: PydanticObjectId) -> str:
    cached = _zones.get(workspace_id)
    if cached and time.monotonic() - cached[0] < 60:
        return cached[1]
    row = await Workspace.get_pymongo_collection().find_one({"_id": workspace_id}, {"timezone": 1})
    zone = (row or {}).get("timezone") or "UTC"
    _zones[workspace_id] = (time.monotonic(), zone)
    return zone
