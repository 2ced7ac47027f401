"""/auth/*: password login and invitation acceptance (the only unauthenticated calls)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from engine.errors import DomainError, InvalidInput
from engine.payload_limits import BadJson, parse_json
from resolvers.accounts import auth, users


async def _json_body(request: Request, fields: dict[str, bool]) -> dict[str, Any]:
    try:
        body = parse_json(await request.body() or b"null", max_depth=4)
    except BadJson as error:
        raise InvalidInput(error.message) from None
    if not isinstance(body, dict):
        raise InvalidInput("Expected a JSON object.")
    for name, required in fields.items():
        value = body.get(name)
        if value is None and required:
            raise InvalidInput(f"'{name}' is required.", field=name)
        if value is not None and not isinstance(value, str):
            raise InvalidInput(f"'{name}' must be a string.", field=name)
    return body


def _session_response(session: auth.Session) -> JSONResponse:
    p = session.principal
    return JSONResponse(
        {
            "token": session.token,
            "expiresAt": session.expires_at.isoformat(),
            "workspaceId": str(p.workspace_id),
            "organizationId": str(p.organization_id),
            "role": p.role,
        }
    )


def _error_response(error: DomainError) -> JSONResponse:
    status = {"UNAUTHENTICATED": 401, "LOCKED": 429, "NOT_FOUND": 404, "FORBIDDEN": 403}.get(
        error.code, 400
    )
    body = {"error": {"message": error.message, "code": error.code, "field": error.field}}
    return JSONResponse(body, status_code=status)


async def login(request: Request) -> JSONResponse:
    try:
        body = await _json_body(request, {"email": True, "password": True, "workspaceId": False})
        session = await auth.login(body["email"], body["password"], body.get("workspaceId"))
    except DomainError as error:
        return _error_response(error)
    return _session_response(session)


async def accept_invitation(request: Request) -> JSONResponse:
    try:
        body = await _json_body(request, {"token": True, "password": True, "name": False})
        session = await users.accept_invitation(
            body["token"], body.get("name") or "", body["password"]
        )
    except DomainError as error:
        return _error_response(error)
    return _session_response(session)
