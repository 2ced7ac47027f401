"""Hybrid campaigns: the paid-audience step exports the audience of a run for ad networks.

Ad platforms match customer lists on hashed identifiers, so the export holds the contact
id and SHA-256 of the normalised email and phone (never the plain values), and leaves out
contacts who unsubscribed from everything. Two destinations:

- csv: a file `paid-audiences/<workspace>/<campaign>-run<run>.csv` under the data dir;
- webhook: POST JSON pages ({"campaign_id", "run", "page", "contacts": [...], "last"})
  signed like the webhook channel (X-Reach-Timestamp, X-Reach-Signature:
  sha256=HMAC(secret, f"{timestamp}.{body}")); the secret is stored sealed.

Either way one page of 500 contacts is in memory at a time. The outcome is kept on the
run (`runs.run<n>.paid_audience`).
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from channels import transport
from channels.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from documents.campaign import Campaign, run_key
from resolvers.campaigns import audience
from resolvers.campaigns.runs import load_campaign, record
from resolvers.core import runtime, vault

PROJECTION = {"_id": 1, "email": 1, "phone": 1, "consent": 1}


FIELDS = ["id", "email_sha256", "phone_sha256"]


def _hash(value: Any) -> str:
    if not isinstance(value, str) or not value:
        return ""
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()


def _row(contact: dict[str, Any]) -> dict[str, str] | None:
    everything = (contact.get("consent") or {}).get("all") or {}
    if everything.get("status") == "unsubscribed":
        return None
    return {
        "id": str(contact["_id"]),
        "email_sha256": _hash(contact.get("email")),
        "phone_sha256": _hash(contact.get("phone")),
    }


def data_dir() -> Path:
    return Path(runtime.get().data_dir)


def _csv(rows: list[dict[str, str]], header: bool) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS)
    if header:
        writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _append(path: Path, text: str) -> None:
    with path.open("a", newline="") as handle:
        handle.write(text)


async def _to_file(campaign: Campaign, run: int) -> dict[str, Any]:
    """Written page by page off the event loop, then renamed into place, so a reader
    never sees half a file."""
    folder = data_dir() / "paid-audiences" / str(campaign.workspace_id)
    path = folder / f"{campaign.id}-run{run}.csv"
    partial = path.with_suffix(".part")
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    await asyncio.to_thread(partial.write_text, _csv([], header=True))
    exported = 0
    async for rows in audience.pages(campaign, PROJECTION):
        kept = [r for r in map(_row, rows) if r]
        await asyncio.to_thread(_append, partial, _csv(kept, header=False))
        exported += len(kept)
    await asyncio.to_thread(partial.replace, path)
    return {"kind": "csv", "file": str(path), "exported": exported}


async def _to_webhook(campaign: Campaign, run: int) -> dict[str, Any]:
    target = campaign.paid_audience or {}
    secret = vault.unseal(target.get("secret") or "").get("secret", "")
    exported = pages = 0

    async def post(contacts: list[dict[str, str]], last: bool) -> None:
        nonlocal pages
        body = json.dumps(
            {
                "campaign_id": str(campaign.id),
                "run": run,
                "page": pages,
                "contacts": contacts,
                "last": last,
            }
        ).encode()
        stamp = int(time.time())
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: str(stamp)}
        if secret:
            headers[SIGNATURE_HEADER] = sign(secret, stamp, body)
        response = await transport.client().post(target["url"], content=body, headers=headers)
        response.raise_for_status()
        pages += 1

    pending: list[dict[str, str]] = []
    async for rows in audience.pages(campaign, PROJECTION):
        if pending:
            await post(pending, last=False)
        pending = [r for r in map(_row, rows) if r]
        exported += len(pending)
    await post(pending, last=True)
    return {"kind": "webhook", "url": target["url"], "exported": exported, "pages": pages}


async def export(workspace_id: str, campaign_id: str, run: int) -> None:
    campaign = await load_campaign(workspace_id, campaign_id)
    if campaign is None or not campaign.paid_audience or campaign.status == "cancelled":
        return
    if (campaign.runs.get(run_key(run)) or {}).get("paid_audience", {}).get("done"):
        return  # a retried job: exported already
    try:
        if campaign.paid_audience["kind"] == "csv":
            outcome = await _to_file(campaign, run)
        else:
            outcome = await _to_webhook(campaign, run)
    except (httpx.HTTPError, OSError) as error:
        outcome = {"kind": campaign.paid_audience["kind"], "error": str(error)[:300]}
        await _save(campaign, run, {**outcome, "done": False})
        raise  # the queue retries with backoff
    outcome |= {"done": True, "at": datetime.now(UTC)}
    await _save(campaign, run, outcome)
    await record(campaign, "campaign.paid_audience_exported", {"run": run, **outcome, "at": None})


async def _save(campaign: Campaign, run: int, outcome: dict[str, Any]) -> None:
    await Campaign.get_pymongo_collection().update_one(
        {"_id": campaign.id, "workspace_id": campaign.workspace_id},
        {"$set": {f"runs.{run_key(run)}.paid_audience": outcome}},
    )
