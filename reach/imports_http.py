"""CSV import and export of contacts over plain HTTP.

POST /v1/import takes the file either as the whole body (Content-Type: text/csv, with
optional `?filename=` and `?mapping=<JSON object>`), or as multipart/form-data with a
`file` part and an optional `mapping` part (JSON). It answers 202 with the import's id;
progress is on the `importJob` query and the `importProgress` subscription.

GET /v1/export/contacts?search=&tag=&segmentId=&locationId= streams the matching
contacts of the caller's workspace as text/csv; GET /v1/export/segments/{id} streams a
segment's members.

Both take `Authorization: Bearer <secret key or session token>`; write keys get 403.
Bodies are capped by BodyLimitMiddleware (its /v1/import limit); multipart parsing is
Starlette's (python-multipart).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from engine.csv_mapping import MAX_FILE_BYTES
from engine.errors import DomainError, Forbidden
from engine.payload_limits import BadJson, parse_json
from resolvers.accounts.auth import authenticate, parse_authorization
from resolvers.contacts import csv_export, csv_import
from resolvers.core.context import RequestContext

CSV_TYPES = ("text/csv", "application/csv", "text/plain")
STATUS = {"UNAUTHENTICATED": 401, "FORBIDDEN": 403, "NOT_FOUND": 404, "TOO_LARGE": 413}
MAX_PARTS = 10


class BadRequest(Exception):
    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


@dataclass
class Upload:
    filename: str | None
    content: bytes
    mapping: Any


def _error(status: int, message: str, code: str = "INVALID", field: str | None = None):
    body = {"error": {"message": message, "code": code, "field": field}}
    headers = {"WWW-Authenticate": 'Bearer realm="reach"'} if status == 401 else {}
    return JSONResponse(body, status_code=status, headers=headers)


def _domain_error(error: DomainError) -> JSONResponse:
    return _error(STATUS.get(error.code, 400), error.message, error.code, error.field)


async def _caller(request: Request) -> RequestContext:
    principal = await authenticate(parse_authorization(request.headers.get("authorization")))
    if principal.kind == "write_key":
        raise Forbidden(
            "Write keys may only send tracking data (/v1/track, /v1/batch, ...); "
            "use a secret key or a session token."
        )
    return RequestContext(principal)


def _mapping(text: str | None) -> Any:
    if text is None or not text.strip():
        return None
    try:
        return parse_json(text, max_depth=8)
    except BadJson as error:
        reason = f"The mapping is not valid JSON: {error.message}"
        raise BadRequest(400, reason, "mapping") from None


async def _upload(request: Request) -> Upload:
    header = request.headers.get("content-type", "")
    media_type = header.split(";", 1)[0].strip().lower()
    if media_type in CSV_TYPES:
        params = request.query_params
        body = await request.body()
        return Upload(params.get("filename"), body, _mapping(params.get("mapping")))
    if media_type == "multipart/form-data":
        try:
            form = await request.form(
                max_files=1, max_fields=MAX_PARTS, max_part_size=MAX_FILE_BYTES
            )
        except (HTTPException, MultiPartException, ValueError) as error:
            detail = getattr(error, "detail", None) or getattr(error, "message", None) or error
            raise BadRequest(400, f"Malformed multipart body: {detail}") from error
        upload = form.get("file")
        if upload is None:
            raise BadRequest(400, "The multipart body needs a 'file' part.", "file")
        content = await upload.read() if hasattr(upload, "read") else str(upload).encode()
        mapping = form.get("mapping")
        if mapping is not None and not isinstance(mapping, str):
            mapping = (await mapping.read()).decode("utf-8", "replace")
        filename = getattr(upload, "filename", None)
        return Upload(filename, content, _mapping(mapping))
    raise BadRequest(415, "Send the file as text/csv or as multipart/form-data ('file' part).")


async def import_contacts(request: Request) -> JSONResponse:
    try:
        ctx = await _caller(request)
        upload = await _upload(request)
        job = await csv_import.start_import(ctx, upload.filename, upload.content, upload.mapping)
    except BadRequest as error:
        return _error(error.status, error.message, field=error.field)
    except DomainError as error:
        return _domain_error(error)
    body = {
        "importId": str(job.id),
        "status": job.status,
        "filename": job.filename,
        "totalRows": job.total_rows,
    }
    return JSONResponse(body, status_code=202)


async def export_contacts(request: Request) -> StreamingResponse | JSONResponse:
    params = request.query_params
    try:
        ctx = await _caller(request)
        chunks = await csv_export.export_contacts(
            ctx,
            search=params.get("search") or None,
            segment_id=params.get("segmentId") or None,
            tag=params.get("tag") or None,
            location_id=params.get("locationId") or None,
        )
    except DomainError as error:
        return _domain_error(error)
    return _csv_download(chunks, "contacts")


def _csv_download(chunks: Any, name: str) -> StreamingResponse:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return StreamingResponse(
        chunks,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}-{stamp}.csv"',
            "Cache-Control": "no-store",
        },
    )


async def export_segment(request: Request) -> StreamingResponse | JSONResponse:
    """GET /v1/export/segments/{id}: the segment's members as text/csv."""
    try:
        ctx = await _caller(request)
        chunks = await csv_export.export_segment_members(ctx, request.path_params["segment_id"])
    except DomainError as error:
        return _domain_error(error)
    return _csv_download(chunks, "segment")


routes = [
    Route("/v1/import", import_contacts, methods=["POST"]),
    Route("/v1/export/contacts", export_contacts, methods=["GET"]),
    Route("/v1/export/segments/{segment_id}", export_segment, methods=["GET"]),
]
