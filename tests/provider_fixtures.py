"""pytest fixtures for the local provider server (registered in tests/conftest.py).

One server per test session (starting uvicorn per test would cost more than the tests);
`provider_server` hands it to a test with its records, scripts and accounts cleared.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.provider_server import ProviderServer


@pytest.fixture(scope="session")
async def provider_server_session() -> AsyncIterator[ProviderServer]:
    server = ProviderServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def provider_server(
    provider_server_session: ProviderServer,
) -> AsyncIterator[ProviderServer]:
    provider_server_session.reset()
    yield provider_server_session
    await provider_server_session.settle()
    provider_server_session.reset()
