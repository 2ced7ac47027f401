"""/graphql over HTTP and WebSocket, with the caller resolved from its credentials."""

from __future__ import annotations

from typing import Any

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from engine.errors import DomainError
from engine.payload_limits import MAX_BODY_DEPTH, BadJson, parse_json
from reach.credential_ws import WATCH, CredentialCheckedHandler
from resolvers.accounts.auth import authenticate, parse_authorization
from resolvers.accounts.credential_watch import CredentialWatch
from resolvers.core.context import Principal, RequestContext
from schema.context import GraphQLContext


def _error(status: int, message: str, code: str) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="reach"'} if status == 401 else {}
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    return JSONResponse(body, status_code=status, headers=headers)


def _graphql_allowed(principal: Principal) -> str | None:
    if principal.kind == "write_key":
        return "Write keys may only send tracking data (/v1/*); use a secret key or a session."
    return None


class ReachGraphQL(GraphQL):
    graphql_transport_ws_handler_class = CredentialCheckedHandler

    def __init__(self, *args: Any, recheck_seconds: float = 30.0, **kwargs: Any) -> None:
        # Only graphql-transport-ws: its handler re-checks credentials; the legacy
        # graphql-ws protocol is refused (4406) rather than left unchecked.
        kwargs.setdefault("subscription_protocols", (GRAPHQL_TRANSPORT_WS_PROTOCOL,))
        super().__init__(*args, **kwargs)
        self.recheck_seconds = recheck_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            request = Request(scope, receive)
            # Exactly strawberry's own test for serving the GraphiQL page (a GET without a
            # `query`): everything else it would execute, so it authenticates like a POST.
            if not self.should_render_graphql_ide(self.request_adapter_class(request)):
                try:
                    principal = await authenticate(
                        parse_authorization(request.headers.get("authorization"))
                    )
                except DomainError as error:
                    await _error(401, error.message, error.code)(scope, receive, send)
                    return
                if reason := _graphql_allowed(principal):
                    await _error(403, reason, "FORBIDDEN")(scope, receive, send)
                    return
                scope.setdefault("state", {})["reach"] = RequestContext(principal)
        await super().__call__(scope, receive, send)

    def parse_json(self, data: str | bytes) -> Any:
        """The POST body (and GET variables): UTF-8, finite numbers, bounded depth, or 400
        with the reason (strawberry's json.loads would answer 500 to all three)."""
        try:
            return parse_json(data, max_depth=MAX_BODY_DEPTH)
        except BadJson as error:
            raise HTTPException(400, error.message) from None

    async def get_context(self, request: Any, response: Any) -> GraphQLContext:
        state = request.scope.get("state", {})
        return GraphQLContext(request=request, response=response, reach=state.get("reach"))

    async def on_ws_connect(self, context: GraphQLContext) -> dict[str, object] | None:
        """graphql-transport-ws: connection_init carries {"authorization": "Bearer ..."}."""
        params = context.connection_params or {}
        header = params.get("authorization") or params.get("Authorization")
        try:
            token = parse_authorization(header if isinstance(header, str) else None)
            principal = await authenticate(token)
        except DomainError as error:
            raise ConnectionRejectionError({"message": error.message}) from error
        if reason := _graphql_allowed(principal):
            raise ConnectionRejectionError({"message": reason})
        context.reach = RequestContext(principal)
        context.reach.extra[WATCH] = await CredentialWatch.start(
            token, principal, self.recheck_seconds
        )
        return {"workspaceId": str(principal.workspace_id)}
