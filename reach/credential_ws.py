"""graphql-transport-ws with the connection's credential re-checked (Reach issue 13).

Every operation on a connection (every Subscription field, present and future, and queries
or mutations sent over the socket) runs under the credential of connection_init, so the
check sits here, not in each field: before each `next` and each new `subscribe`, and on a
timer while nothing flows. A revoked, expired or access-less credential ends every
operation with an `error` and closes the socket with 4403; a narrowed role ends the
running operations and lets the client subscribe again under what it still may."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import Any

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)

from resolvers.accounts.credential_watch import CredentialWatch, Lapse

WATCH = "credential_watch"  # RequestContext.extra key set by on_ws_connect


class CredentialCheckedHandler(BaseGraphQLTransportWSHandler):
    _ticker: asyncio.Task | None = None
    _handled: Lapse | None = None

    def _watch(self) -> CredentialWatch | None:
        reach = getattr(self.context, "reach", None)
        return reach.extra.get(WATCH) if reach is not None else None

    async def handle_connection_init(self, message: Any) -> None:
        await super().handle_connection_init(message)
        watch = self._watch()
        if self.connection_acknowledged and watch is not None and self._ticker is None:
            self._ticker = asyncio.create_task(self._recheck_periodically(watch))

    async def _recheck_periodically(self, watch: CredentialWatch) -> None:
        while True:
            await asyncio.sleep(watch.recheck_seconds)
            if lapse := await watch.check():
                await self._end(watch, lapse)
                if lapse.closes_connection:
                    return

    async def handle_subscribe(self, message: Any) -> None:
        watch = self._watch()
        lapse = await watch.check() if self.connection_acknowledged and watch else None
        if lapse is not None:
            await self._end(watch, lapse)
            if lapse.closes_connection:
                return
        await super().handle_subscribe(message)

    async def send_message(self, message: Any) -> None:
        watch = self._watch()
        lapse = await watch.check() if message.get("type") == "next" and watch else None
        if lapse is not None:
            await self._end(watch, lapse)
            return  # this item is never delivered
        await super().send_message(message)

    async def _end(self, watch: CredentialWatch, lapse: Lapse) -> None:
        if self._handled is lapse:  # another task is already ending it
            return
        self._handled = lapse
        error = {"message": lapse.message, "extensions": {"code": lapse.code}}
        operations = list(self.operations.values())
        for operation in operations:
            with suppress(Exception):
                await operation.send_operation_message(
                    {"id": operation.id, "type": "error", "payload": [error]}
                )
        if lapse.closes_connection:
            with suppress(Exception):
                await self.websocket.close(code=4403, reason="Forbidden: credential revoked")
        else:
            self.context.reach.principal = watch.accept_narrowed()
        current = asyncio.current_task()
        for operation in operations:
            if operation.task is not None and operation.task is not current:
                operation.task.cancel()
        if current is not None and any(op.task is current for op in operations):
            current.cancel()  # the caller's own stream stops at its next await

    async def shutdown(self) -> None:
        if self._ticker is not None and self._ticker is not asyncio.current_task():
            self._ticker.cancel()
        await super().shutdown()
