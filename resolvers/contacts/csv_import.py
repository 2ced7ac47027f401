"""CSV import of the caller's contacts, as a resumable background job.

`start_import` checks the file and the mapping at once (a whole-file problem comes
back to the caller, nothing is queued), stores the file and queues the
`run_contact_import` job. `run_import`, the worker step, maps the rows in chunks to
identify messages, stores each chunk through the ordinary ingestion pipeline (identity
resolution, merges, custom-field coercion), adds tags, and checkpoints progress on
the job after each chunk, publishing it on the workspace topic `import:<id>`.

Retrying is safe at any point. Each row's message id comes from the job id and the
row number, so a chunk ingested twice stores nothing twice (its rows count as
accepted: they are stored); tags are added with $addToSet; a checkpoint only moves
the job on from the position its chunk started at, so two runners of one job (a
redelivered message) never count a chunk twice, and the later one stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from beanie import PydanticObjectId
from pymongo import ReturnDocument, UpdateOne

from documents.contact import Contact
from documents.import_job import ColumnMapping, ImportFile, ImportJob
from documents.workspace import Workspace
from engine import csv_mapping
from engine.access import Permission
from engine.csv_mapping import RowError
from engine.errors import DomainError, InvalidInput, NotFound
from engine.names import clean_name
from resolvers.accounts import custom_fields
from resolvers.core import audit, jobs, live, lookup
from resolvers.core.context import Principal, RequestContext, parse_id
from resolvers.events import ingest

log = logging.getLogger("reach.imports")


RUN_CONTACT_IMPORT = "run_contact_import"


CHUNK_ROWS = 500


MAX_PROBLEMS = 1000  # errors (and warnings) kept on a job


MAX_RETRIES = 3  # the actor's; the attempt after the last retry marks the job failed


RUN_TIMEOUT_SECONDS = 2 * 3600


WATCH_POLL_SECONDS = 2.0  # a subscription re-reads the job at least this often


TERMINAL = ("completed", "failed")


DEFAULT_FILENAME = "contacts.csv"


def topic(job_id: Any) -> str:
    return f"import:{job_id}"


def _filename(value: str | None) -> str:
    base = (value or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    return clean_name(base, "filename", max_length=255) if base else DEFAULT_FILENAME


async def start_import(
    ctx: RequestContext, filename: str | None, content: str | bytes, mapping: Any = None
) -> ImportJob:
    """Check the file and mapping, store the file and queue the import."""
    ctx.require(Permission.WRITE)
    wanted = csv_mapping.validate_mapping(mapping)
    name = _filename(filename)
    text = csv_mapping.decode(content) if isinstance(content, bytes) else content
    table = await asyncio.to_thread(csv_mapping.parse, text)
    plan = csv_mapping.plan_columns(table.header, wanted)
    job = ImportJob(
        workspace_id=ctx.workspace_id,
        filename=name,
        total_rows=table.total_rows,
        mapping=[ColumnMapping(column=c, target=t) for c, t in plan.mapping().items()],
        created_by=ctx.principal.label,
    )
    await job.insert()
    await ImportFile(workspace_id=ctx.workspace_id, job_id=job.id, content=text).insert()
    await audit.record(
        ctx.principal,
        "contacts.import_started",
        "import",
        job.id,
        {"filename": name, "rows": table.total_rows},
    )
    await jobs.enqueue(RUN_CONTACT_IMPORT, str(job.id))
    return job


async def get_import(ctx: RequestContext, job_id: str) -> ImportJob | None:
    ctx.require(Permission.READ)
    oid = parse_id(job_id, "ImportJob")
    if oid is None:
        return None
    return await ImportJob.find_one({"_id": oid, "workspace_id": ctx.workspace_id})


def _state(job: ImportJob) -> tuple:
    return (job.status, job.processed_rows, job.accepted, job.rejected)


async def watch_import(ctx: RequestContext, job_id: str) -> AsyncIterator[ImportJob]:
    """The job now, then each change, until it completes or fails.

    Progress messages wake it up; it also re-reads the job every WATCH_POLL_SECONDS,
    so a message published before the Redis subscription took hold is not missed.
    """
    job = await get_import(ctx, job_id)
    if job is None:
        raise NotFound("Import not found.", field="id")
    wake: asyncio.Queue[None] = asyncio.Queue()
    channel = topic(job.id)

    async def listen() -> None:
        async with aclosing(live.subscribe(ctx.workspace_id, channel)) as stream:
            async for _ in stream:
                wake.put_nowait(None)

    listener = asyncio.create_task(listen())
    try:
        seen = None
        while job is not None:
            if _state(job) != seen:
                seen = _state(job)
                yield job
            if job.status in TERMINAL:
                return
            try:
                await asyncio.wait_for(wake.get(), WATCH_POLL_SECONDS)
            except TimeoutError:
                pass
            while not wake.empty():
                wake.get_nowait()
            job = await get_import(ctx, job_id)
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)


@dataclass
class _Chunk:
    rows: int
    accepted: int
    rejected: int
    errors: list[RowError]
    warnings: list[RowError]


def _capped(kept: list[dict], new: list[RowError], truncated: bool) -> tuple[list[dict], bool]:
    room = MAX_PROBLEMS - len(kept)
    added = [problem.as_dict() for problem in new[: max(room, 0)]]
    return kept + added, truncated or len(new) > room


@dataclass
class _Progress:
    processed: int = 0
    accepted: int = 0
    rejected: int = 0
    errors: list[dict] = field(default_factory=list)
    errors_truncated: bool = False
    warnings: list[dict] = field(default_factory=list)
    warnings_truncated: bool = False

    @staticmethod
    def of(job: ImportJob) -> _Progress:
        return _Progress(
            job.processed_rows,
            job.accepted,
            job.rejected,
            [p.model_dump() for p in job.errors],
            job.errors_truncated,
            [p.model_dump() for p in job.warnings],
            job.warnings_truncated,
        )

    def after(self, chunk: _Chunk) -> _Progress:
        errors, errors_cut = _capped(self.errors, chunk.errors, self.errors_truncated)
        warnings, warnings_cut = _capped(self.warnings, chunk.warnings, self.warnings_truncated)
        return _Progress(
            self.processed + chunk.rows,
            self.accepted + chunk.accepted,
            self.rejected + chunk.rejected,
            errors,
            errors_cut,
            warnings,
            warnings_cut,
        )

    def fields(self) -> dict[str, Any]:
        return {
            "processed_rows": self.processed,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "errors": self.errors,
            "errors_truncated": self.errors_truncated,
            "warnings": self.warnings,
            "warnings_truncated": self.warnings_truncated,
        }


async def run_import(job_id: str) -> None:
    """Worker step: import the job's rows, resuming after its last checkpoint."""
    oid = parse_id(job_id, "ImportJob")
    job = await _claim(oid) if oid else None
    if job is None:
        return  # unknown, or finished already (a retried message)
    try:
        await _run(job)
    except DomainError as error:  # the stored file no longer imports: retrying won't help
        await _end(job, "failed", error.message)
    except Exception:
        if job.attempts <= MAX_RETRIES:
            raise  # Dramatiq retries; the next attempt resumes at the checkpoint
        log.exception("import %s failed for good", job.id)
        await _end(job, "failed", "The import stopped after repeated errors; run it again.")


async def _claim(oid: PydanticObjectId) -> ImportJob | None:
    claimed = await ImportJob.get_pymongo_collection().find_one_and_update(
        {"_id": oid, "status": {"$in": ["queued", "running"]}},
        {"$set": {"status": "running"}, "$inc": {"attempts": 1}},
        projection={"_id": 1, "started_at": 1},
        return_document=ReturnDocument.AFTER,
    )
    if claimed is None:
        return None
    if claimed.get("started_at") is None:
        await ImportJob.get_pymongo_collection().update_one(
            {"_id": oid, "started_at": None}, {"$set": {"started_at": datetime.now(UTC)}}
        )
    return await ImportJob.get(oid)


async def _run(job: ImportJob) -> None:
    upload = await ImportFile.find_one({"workspace_id": job.workspace_id, "job_id": job.id})
    workspace = await Workspace.get(job.workspace_id)
    if upload is None or workspace is None:
        raise InvalidInput("The uploaded file is no longer available; upload it again.")
    table = await asyncio.to_thread(csv_mapping.parse, upload.content)
    plan = csv_mapping.plan_columns(table.header, {m.column: m.target for m in job.mapping})
    principal = Principal(
        kind="import",
        workspace_id=job.workspace_id,
        organization_id=workspace.organization_id,
        permissions=frozenset({Permission.TRACK}),
        label=f"CSV import {job.filename} ({job.id})",
    )
    progress = _Progress.of(job)
    while progress.processed < table.total_rows:
        rows = table.rows[progress.processed : progress.processed + CHUNK_ROWS]
        chunk = await _import_chunk(principal, str(job.id), plan, rows, workspace.default_country)
        advanced = progress.after(chunk)
        moved = await ImportJob.get_pymongo_collection().update_one(
            {"_id": job.id, "status": "running", "processed_rows": progress.processed},
            {"$set": advanced.fields()},
        )
        if not moved.matched_count:
            log.info("import %s is being run by another worker; this one stops", job.id)
            return
        progress = advanced
        await _publish(job, "running", progress)
    await _end(job, "completed", None, progress)


async def _import_chunk(
    principal: Principal,
    job_id: str,
    plan: csv_mapping.ColumnPlan,
    rows: list[tuple[int, list[str]]],
    region: str | None,
) -> _Chunk:
    fields = await custom_fields.custom_fields(principal.workspace_id)
    mapped = csv_mapping.map_rows(rows, plan, job_id=job_id, fields=fields, region=region)
    chunk = _Chunk(len(rows), 0, mapped.rejected, list(mapped.errors), [])
    if mapped.rows:
        messages = [row.message for row in mapped.rows]
        result = await ingest.ingest(principal, messages, source="import", trait_identity=True)
        chunk.accepted = result.accepted + result.duplicates
        chunk.rejected += len(result.rejected)
        for problems, into in ((result.rejected, chunk.errors), (result.warnings, chunk.warnings)):
            for problem in problems:
                row = mapped.rows[problem.index].row
                into.append(RowError(row, plan.column_for(problem.field), problem.reason))
        await _tag_contacts(principal.workspace_id, mapped.rows, result.contact_ids)
    chunk.errors.sort(key=lambda e: e.row)
    chunk.warnings.sort(key=lambda e: e.row)
    return chunk


async def _tag_contacts(
    workspace_id: PydanticObjectId,
    rows: list[csv_mapping.ImportRow],
    contact_ids: dict[int, str],
) -> None:
    """Add each row's tags to its contact, one bulk write for the chunk."""
    wanted: dict[str, set[str]] = {}
    for index, row in enumerate(rows):
        contact_id = contact_ids.get(index)
        if contact_id is not None and row.tags:
            wanted.setdefault(contact_id, set()).update(row.tags)
    now = datetime.now(UTC)
    operations = [
        UpdateOne(
            {"_id": PydanticObjectId(contact_id), "workspace_id": workspace_id},
            {"$addToSet": {"tags": {"$each": sorted(tags)}}, "$set": {"updated_at": now}},
        )
        for contact_id, tags in wanted.items()
    ]
    if operations:
        await Contact.get_pymongo_collection().bulk_write(operations, ordered=False)


async def _end(
    job: ImportJob, status: str, reason: str | None, progress: _Progress | None = None
) -> None:
    sets: dict[str, Any] = {
        "status": status,
        "failure_reason": reason,
        "finished_at": datetime.now(UTC),
    }
    ended = await ImportJob.get_pymongo_collection().find_one_and_update(
        {"_id": job.id, "status": {"$in": ["queued", "running"]}},
        {"$set": sets},
        return_document=ReturnDocument.AFTER,
    )
    # The file holds personal data: it goes as soon as the job is over.
    await ImportFile.get_pymongo_collection().delete_many(
        {"workspace_id": job.workspace_id, "job_id": job.id}
    )
    if ended is not None:
        done = _Progress(ended["processed_rows"], ended["accepted"], ended["rejected"])
        await _publish(job, status, progress or done)


async def _publish(job: ImportJob, status: str, progress: _Progress) -> None:
    await live.publish(
        job.workspace_id,
        topic(job.id),
        {
            "id": str(job.id),
            "status": status,
            "totalRows": job.total_rows,
            "processedRows": progress.processed,
            "accepted": progress.accepted,
            "rejected": progress.rejected,
        },
    )


async def import_jobs_by_ids(
    ctx: RequestContext, ids: list[str]
) -> dict[PydanticObjectId, ImportJob]:
    """`node`/DataLoader fetch: one `_id` query in the caller's workspace."""
    ctx.require(Permission.READ)
    return await lookup.by_ids(ctx, ImportJob, ids)
