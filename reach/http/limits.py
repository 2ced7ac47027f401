"""Reject oversized request bodies with 413 before any handler reads them."""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.csv_mapping import MAX_FILE_BYTES

# Paths whose bodies have their own cap instead of the global one: CSV imports carry
# files up to MAX_FILE_BYTES, plus the multipart envelope and mapping.
ROUTE_LIMITS = {"/v1/import": MAX_FILE_BYTES + 64 * 1024}


class BodyLimitMiddleware:
    """Buffers the body (bounded by `max_bytes`) and replays it to the app.

    Checks Content-Length first, then counts what actually arrives, so a chunked
    upload or a lying header cannot get past the limit. `route_limits` gives exact
    paths a cap of their own (default: ROUTE_LIMITS).
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        drain_bytes: int = 32_000_000,
        route_limits: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.route_limits = dict(ROUTE_LIMITS if route_limits is None else route_limits)
        # Read (and drop) up to this much of a rejected body, so the client, still
        # sending, gets to read the 413 instead of a connection reset.
        self.drain_bytes = drain_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.route_limits.get(scope["path"], self.max_bytes)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                if int(declared) > limit:
                    await self._drain(receive, 0, more=True)
                    await self._reject(send, limit)
                    return
            except ValueError:
                await self._respond(send, 400, "Invalid Content-Length header.")
                return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._drain(receive, size, more=message.get("more_body", False))
                await self._reject(send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _drain(self, receive: Receive, seen: int, *, more: bool) -> None:
        while more and seen < self.drain_bytes:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            seen += len(message.get("body", b""))
            more = message.get("more_body", False)

    async def _reject(self, send: Send, limit: int) -> None:
        await self._respond(send, 413, f"Request body too large: the limit is {limit} bytes.")

    @staticmethod
    async def _respond(send: Send, status: int, message: str) -> None:
        body = json.dumps({"errors": [{"message": message}]}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
