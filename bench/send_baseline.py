"""The baseline of bench.send: Dramatiq actors that only write a message document each.

Registered in both the benchmark process (to enqueue) and its worker process (to run):
one job per message, on the same broker, worker threads and MongoDB as real sends, each
inserting a document shaped like an outbound message row into a collection with the
same indexes. What the real pipeline does beyond this is the cost being measured.
"""

from __future__ import annotations

from datetime import UTC, datetime

from beanie import PydanticObjectId

from documents.message import OutboundMessage
from workers import actors
from workers.loop import run

COLLECTION = "bench_baseline_messages"


async def _write(workspace_id: str, index: int) -> None:
    collection = OutboundMessage.get_pymongo_collection().database[COLLECTION]
    now = datetime.now(UTC)
    await collection.insert_one(
        {
            "workspace_id": PydanticObjectId(workspace_id),
            "idempotency_key": f"baseline:{index}",
            "contact_id": PydanticObjectId(),
            "channel": "email",
            "provider": "sandbox",
            "to": f"baseline-{index}@example.com",
            "source": "campaign",
            "source_id": "baseline",
            "status": "sent",
            "subject": "Hello there",
            "text": "Hi!",
            "created_at": now,
            "sent_at": now,
        }
    )


def bench_write_message(workspace_id: str, index: int) -> None:
    run(_write(workspace_id, index))


def register_baseline() -> None:
    actors.ACTORS["bench_write_message"] = (bench_write_message, {"queue_name": "sends"})


async def create_indexes(database) -> None:
    """The outbound messages' indexes, on the baseline collection."""
    models = OutboundMessage.Settings.indexes
    await database[COLLECTION].create_indexes(list(models))
