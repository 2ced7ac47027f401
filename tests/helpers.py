"""Helpers for tests: GraphQL calls, tenants, waiting for background work."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from beanie import PydanticObjectId

from engine import global_ids
from engine.access import Permission
from resolvers.accounts.bootstrap import Provisioned, provision
from resolvers.core.context import Principal, RequestContext


def gid(type_name: str, raw_id: Any) -> str:
    """The GraphQL (global) id of a document: what the API returns for `str(doc.id)`."""
    return global_ids.encode(type_name, raw_id)


def raw(global_id: str) -> str:
    """The raw ObjectId hex a global id carries (fails the test if it is not one)."""
    decoded = global_ids.decode(global_id)
    assert decoded is not None, f"not a global id: {global_id!r}"
    return decoded[1]


def as_raw(value: str) -> str:
    """The raw ObjectId of a global id, a raw id unchanged: for helpers that read the
    database with an id a test got from GraphQL or from a document."""
    decoded = global_ids.decode(value)
    return decoded[1] if decoded else value


class Client:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def raw(self, token: str | None, query: str, variables: dict | None = None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )

    async def gql(self, token: str, query: str, variables: dict | None = None) -> dict[str, Any]:
        """Data of a successful call; fails the test on HTTP or GraphQL errors."""
        response = await self.raw(token, query, variables)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    async def errors(self, token: str, query: str, variables: dict | None = None) -> list[dict]:
        response = await self.raw(token, query, variables)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body.get("errors"), body
        return body["errors"]

    async def login(self, email: str, password: str, workspace_id: str | None = None) -> str:
        payload = {"email": email, "password": password}
        if workspace_id:
            payload["workspaceId"] = workspace_id
        response = await self.http.post("/auth/login", json=payload)
        assert response.status_code == 200, response.text
        return response.json()["token"]


def unique_email(tag: str = "user") -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.com"


async def new_tenant(name: str = "Brand", **kwargs: Any) -> Provisioned:
    return await provision(
        f"{name} {uuid.uuid4().hex[:6]}", unique_email("owner"), "correct horse battery", **kwargs
    )


async def eventually[T](
    probe: Callable[[], Awaitable[T | None]], timeout: float = 60.0, interval: float = 0.05
) -> T:
    """Poll until `probe` returns something truthy (background work done) or time out."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


def full_access(tenant: Provisioned, label: str = "test") -> RequestContext:
    """A caller with every permission in the tenant's workspace, for calling resolvers
    directly (what a secret key with every scope would be)."""
    return RequestContext(
        Principal(
            kind="secret_key",
            workspace_id=PydanticObjectId(tenant.workspace_id),
            organization_id=PydanticObjectId(tenant.organization_id),
            permissions=frozenset(Permission),
            label=label,
        )
    )
