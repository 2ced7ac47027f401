"""The GraphQL context: the HTTP/WebSocket request plus the resolved caller."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from resolvers.core.context import RequestContext


@dataclass
class GraphQLContext:
    request: Any
    response: Any
    reach: RequestContext | None = None
    connection_params: dict[str, Any] = field(default_factory=dict)
    loaders: dict[Any, Any] = field(default_factory=dict)  # schema.loaders, per model

    def caller(self) -> RequestContext:
        if self.reach is None:  # guarded by the HTTP and WebSocket entry points
            raise RuntimeError("unauthenticated GraphQL execution")
        return self.reach
