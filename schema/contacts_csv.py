"""CSV contact imports: start one, read its progress and per-row errors, watch it live.

Files go in as a string argument (bounded by the request body limit, 1 MB by
default); larger files go to POST /v1/import. Exports are GET /v1/export/contacts.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry.file_uploads import Upload
from strawberry.scalars import JSON

from resolvers.contacts import csv_import
from schema.errors import UserError, attempt
from schema.node import Node, gid


@strawberry.enum(description="Where a CSV import is.")
class ImportStatus(Enum):
    QUEUED = strawberry.enum_value("queued", description="Waiting for a worker.")
    RUNNING = strawberry.enum_value("running", description="Rows are being imported.")
    COMPLETED = strawberry.enum_value("completed", description="Every row was processed.")
    FAILED = strawberry.enum_value("failed", description="Stopped; see failureReason.")


@strawberry.type(description="A problem with one row: rows are numbered as in a spreadsheet.")
class ImportRowError:
    row: int = strawberry.field(description="The header is row 1, the first data row is 2.")
    column: str | None = strawberry.field(description="The column at fault, if one.")
    reason: str = strawberry.field(description="What is wrong.")


@strawberry.type(description="A CSV contact import and its progress.")
class ImportJob(Node):
    id: strawberry.ID = strawberry.field(description="Global id.")
    status: ImportStatus = strawberry.field(description="Where the import is.")
    filename: str = strawberry.field(description="Name of the uploaded file.")
    total_rows: int = strawberry.field(description="Data rows in the file.")
    processed_rows: int = strawberry.field(description="Data rows handled so far.")
    accepted: int = strawberry.field(description="Rows stored (new or updated contacts).")
    rejected: int = strawberry.field(description="Rows not stored.")
    errors: list[ImportRowError] = strawberry.field(
        description="Why rows were rejected (the first 1000)."
    )
    errors_truncated: bool = strawberry.field(
        description="More rows were rejected than errors lists."
    )
    warnings: list[ImportRowError] = strawberry.field(
        description="Imported rows with a value that was not applied (the first 1000)."
    )
    warnings_truncated: bool = strawberry.field(
        description="More warnings happened than warnings lists."
    )
    mapping: JSON = strawberry.field(description="{column: target} of the imported columns.")
    created_by: str = strawberry.field(description="Label of who started it.")
    failure_reason: str | None = strawberry.field(description="Why it failed; null unless failed.")
    created_at: datetime = strawberry.field(description="When it was started.")
    started_at: datetime | None = strawberry.field(
        description="When a worker began; null while queued."
    )
    finished_at: datetime | None = strawberry.field(
        description="When it completed or failed; null before."
    )

    @staticmethod
    def of(doc: Any) -> ImportJob:
        def problems(items: list) -> list[ImportRowError]:
            return [ImportRowError(row=p.row, column=p.column, reason=p.reason) for p in items]

        return ImportJob(
            id=gid("ImportJob", doc.id),
            status=ImportStatus(doc.status),
            filename=doc.filename,
            total_rows=doc.total_rows,
            processed_rows=doc.processed_rows,
            accepted=doc.accepted,
            rejected=doc.rejected,
            errors=problems(doc.errors),
            errors_truncated=doc.errors_truncated,
            warnings=problems(doc.warnings),
            warnings_truncated=doc.warnings_truncated,
            mapping={m.column: m.target for m in doc.mapping},
            created_by=doc.created_by,
            failure_reason=doc.failure_reason,
            created_at=doc.created_at,
            started_at=doc.started_at,
            finished_at=doc.finished_at,
        )


@strawberry.type(description="A started CSV import.")
class ImportContactsPayload:
    import_job: ImportJob | None = strawberry.field(
        default=None, description="The import job; null on error."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What went wrong; empty when the mutation succeeded."
    )


@strawberry.type
class ImportQueries:
    @strawberry.field(description="A CSV import of this workspace.")
    async def import_job(
        self,
        info: strawberry.Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The import's global id.")],
    ) -> ImportJob | None:
        doc = await csv_import.get_import(info.context.caller(), id)
        return ImportJob.of(doc) if doc else None


@strawberry.type
class ImportMutations:
    @strawberry.mutation(
        description="Import contacts from CSV text: rows upsert contacts by identity in a "
        "background job. Whole-file problems come back as userErrors at once."
    )
    async def import_contacts(
        self,
        info: strawberry.Info,
        csv: Annotated[str, strawberry.argument(description="The CSV text, header row first.")],
        filename: Annotated[
            str | None, strawberry.argument(description="A name to show for the import.")
        ] = None,
        mapping: Annotated[
            JSON | None,
            strawberry.argument(
                description="{column: target}; a target is user_id, email, phone, "
                "anonymous_id, tags, ignore or properties.<key>. Without it, columns map "
                "by header name."
            ),
        ] = None,
    ) -> ImportContactsPayload:
        doc, errors = await attempt(
            csv_import.start_import(info.context.caller(), filename, csv, mapping)
        )
        return ImportContactsPayload(
            import_job=ImportJob.of(doc) if doc else None, user_errors=errors
        )

    @strawberry.mutation(
        description="Import a CSV file sent as a GraphQL multipart upload (up to the request "
        "size limit; larger files go to POST /v1/import)."
    )
    async def import_contacts_file(
        self,
        info: strawberry.Info,
        file: Annotated[Upload, strawberry.argument(description="The CSV file, header row first.")],
        mapping: Annotated[
            JSON | None, strawberry.argument(description="{column: target}, as for importContacts.")
        ] = None,
    ) -> ImportContactsPayload:
        content = await file.read()
        filename = getattr(file, "filename", None)
        doc, errors = await attempt(
            csv_import.start_import(info.context.caller(), filename, content, mapping)
        )
        return ImportContactsPayload(
            import_job=ImportJob.of(doc) if doc else None, user_errors=errors
        )


@strawberry.type
class ImportSubscriptions:
    @strawberry.subscription(description="An import's state now, then as it progresses.")
    async def import_progress(
        self,
        info: strawberry.Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The import's global id.")],
    ) -> AsyncGenerator[ImportJob]:
        async for doc in csv_import.watch_import(info.context.caller(), id):
            yield ImportJob.of(doc)
