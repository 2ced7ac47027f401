"""/v1/*: the Segment-compatible tracking API (existing SDKs and servers work unchanged)."""

from __future__ import annotations

import gzip
import zlib
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from engine.errors import DomainError
from engine.messages import MAX_BATCH_BYTES, MAX_BATCH_MESSAGES, MAX_MESSAGE_BYTES
from engine.payload_limits import BadJson, parse_json
from resolvers.accounts.auth import authenticate_tracking
from resolvers.events import ingest

SINGLE_TYPES = ("track", "identify", "page", "screen", "group", "alias")


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error(status: int, message: str, code: str = "INVALID") -> JSONResponse:
    # Segment's clients read `code` and `message`; `error` is kept for humans.
    body = {"success": False, "error": message, "message": message, "code": code}
    return JSONResponse(body, status_code=status)


async def _read_json(request: Request, limit: int) -> Any:
    """The body as JSON (gzip inflated, bounded). Lenient about unstorable numbers: the
    messages holding them are rejected one by one, the others of a batch stored."""
    body = await request.body()
    encoding = request.headers.get("content-encoding", "").lower()
    if encoding == "gzip":
        try:
            # Bounded: a small gzip bomb must not inflate past the limit.
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            body = inflater.decompress(body, limit + 1)
        except (zlib.error, gzip.BadGzipFile) as error:
            raise BadRequest(400, "Malformed gzip body: it does not inflate.") from error
    elif encoding not in ("", "identity"):
        raise BadRequest(415, f"Unsupported Content-Encoding {encoding!r}.")
    if len(body) > limit:
        raise BadRequest(413, f"Request body too large: the limit is {limit // 1024} KB.")
    try:
        return parse_json(body, lenient=True)
    except BadJson as error:
        raise BadRequest(400, error.message) from None


def _auth_error(error: DomainError) -> JSONResponse:
    return _error(401 if error.code == "UNAUTHENTICATED" else 403, error.message, error.code)


def _count(request: Request, result: ingest.IngestResult) -> None:
    request.app.state.metrics.count_ingest(result.accepted, result.duplicates, len(result.rejected))


def _report(result: ingest.IngestResult) -> dict[str, Any]:
    return {
        "success": True,
        "accepted": result.accepted,
        "duplicates": result.duplicates,
        "rejected": [p.as_json() for p in result.rejected],
        "warnings": [p.as_json() for p in result.warnings],
    }


async def _principal(request: Request, body: Any):
    write_key = body.get("writeKey") if isinstance(body, dict) else None
    return await authenticate_tracking(request.headers.get("authorization"), write_key)


def single(kind: str):
    async def endpoint(request: Request) -> JSONResponse:
        try:
            body = await _read_json(request, MAX_MESSAGE_BYTES + 1024)
            principal = await _principal(request, body)
            if isinstance(body, dict):
                body = {k: v for k, v in body.items() if k != "writeKey"}
            result = await ingest.ingest(principal, [body], default_type=kind)
            _count(request, result)
        except BadRequest as error:
            return _error(error.status, error.message)
        except DomainError as error:
            return _auth_error(error)
        if result.rejected:
            problem = result.rejected[0]
            body = {
                "success": False,
                "error": problem.reason,
                "message": problem.reason,
                "code": "INVALID",
                "field": problem.field,
            }
            return JSONResponse(body, status_code=400)
        return JSONResponse(_report(result))

    return endpoint


def _with_batch_fields(message: Any, body: dict[str, Any]) -> Any:
    """Batch-level context and sentAt (Segment's server libraries send them there) apply
    to every message; a message's own values win."""
    if not isinstance(message, dict):
        return message
    shared = body.get("context")
    own = message.get("context")
    if isinstance(shared, dict) and (own is None or isinstance(own, dict)):
        message = {**message, "context": {**shared, **(own or {})}}
    if body.get("sentAt") is not None and message.get("sentAt") is None:
        message = {**message, "sentAt": body["sentAt"]}
    return message


async def batch(request: Request) -> JSONResponse:
    try:
        body = await _read_json(request, MAX_BATCH_BYTES)
        principal = await _principal(request, body)
        if not isinstance(body, dict) or not isinstance(body.get("batch"), list):
            raise BadRequest(400, "Expected a JSON object with a 'batch' array.")
        messages = body["batch"]
        if len(messages) > MAX_BATCH_MESSAGES:
            raise BadRequest(400, f"A batch may hold at most {MAX_BATCH_MESSAGES} messages.")
        messages = [_with_batch_fields(m, body) for m in messages]
        result = await ingest.ingest(principal, messages)
        _count(request, result)
    except BadRequest as error:
        return _error(error.status, error.message)
    except DomainError as error:
        return _auth_error(error)
    report = _report(result)
    if messages and not result.accepted and not result.duplicates:
        report["success"] = False
        return JSONResponse(report, status_code=400)
    return JSONResponse(report)


# analytics-next posts to /v1/<first letter of the type> and batches to /v1/b; Segment's
# mobile SDKs batch to /b. Alias and screen share no letter with the others.
_SHORT = {kind[0]: kind for kind in SINGLE_TYPES}

routes = [
    *(Route(f"/v1/{kind}", single(kind), methods=["POST"]) for kind in SINGLE_TYPES),
    *(Route(f"/v1/{letter}", single(kind), methods=["POST"]) for letter, kind in _SHORT.items()),
    *(Route(path, batch, methods=["POST"]) for path in ("/v1/batch", "/v1/b", "/b")),
]
