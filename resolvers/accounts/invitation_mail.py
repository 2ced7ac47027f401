"""System email (invitations): recorded once per idempotency key, sent at most once."""

from __future__ import annotations

from datetime import UTC, datetime

from beanie import PydanticObjectId
from pymongo.errors import DuplicateKeyError

from channels.base import Outgoing, Provider, SendError
from channels.sandbox import Sandbox
from channels.smtp import SmtpEmail
from documents.message import OutboundMessage
from resolvers.core import runtime


def email_provider() -> Provider:
    url = runtime.get().smtp_url
    return SmtpEmail(url) if url else Sandbox()


async def send_email_once(
    workspace_id: PydanticObjectId, idempotency_key: str, message: Outgoing
) -> OutboundMessage:
    """Record the message (unique per key), claim it, send it, record the outcome.

    A retried job finds the row: if it was sent, nothing happens again.
    """
    record = OutboundMessage(
        workspace_id=workspace_id,
        idempotency_key=idempotency_key,
        channel="email",
        to=message.to,
        subject=message.subject,
        text=message.text,
        html=message.html,
    )
    by_key = {"workspace_id": workspace_id, "idempotency_key": idempotency_key}
    try:
        await record.insert()
        row_id = record.id
    except DuplicateKeyError:  # a retry: the row is there, on (workspace_id, idempotency_key)
        existing = await OutboundMessage.get_pymongo_collection().find_one(by_key, {"_id": 1})
        row_id = existing["_id"]
    # The claim: a conditional update by _id (findAndModify scans on SecantusDB's write).
    claimed = await OutboundMessage.get_pymongo_collection().update_one(
        {"_id": row_id, "status": {"$in": ["queued", "failed"]}}, {"$set": {"status": "sending"}}
    )
    query = OutboundMessage.find_one({"_id": row_id})
    if claimed.modified_count != 1:  # sent already, or another worker holds it
        return await query
    provider = email_provider()
    try:
        result = await provider.send(message)
    except SendError as error:
        await query.update({"$set": {"status": "failed", "error": str(error)}})
        if error.permanent:  # a refused address will not pass on a retry
            return await query
        raise
    await query.update(
        {
            "$set": {
                "status": "sent",
                "provider": result.provider,
                "sent_at": datetime.now(UTC),
                "error": None,
            }
        }
    )
    return await query
