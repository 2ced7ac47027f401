"""GET /graphql: the GraphiQL page is public, executing a query is not."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import new_tenant

HTML = {"Accept": "text/html"}
QUERIES = [
    "{ __schema { queryType { name } } }",
    "{ campaignGoals { key label } }",
    "{ viewer { kind } }",
]


@pytest.fixture(params=["test", "production"])
async def server(request, base_url, production_base_url):
    url = base_url if request.param == "test" else production_base_url
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        yield client


async def test_graphiql_page_needs_no_credentials(server):
    response = await server.get("/graphql", headers=HTML)
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    assert "graphiql" in response.text.lower()


@pytest.mark.parametrize("accept", ["text/html", "*/*", "application/json"])
@pytest.mark.parametrize("query", QUERIES)
async def test_get_with_a_query_needs_credentials(server, query, accept):
    response = await server.get("/graphql", params={"query": query}, headers={"Accept": accept})
    assert response.status_code == 401
    body = response.json()
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_get_with_an_empty_query_needs_credentials(server):
    response = await server.get("/graphql", params={"query": ""}, headers=HTML)
    assert response.status_code == 401


async def test_get_runs_queries_for_a_caller_but_never_mutations(server, services):
    tenant = await new_tenant()
    auth = {"Authorization": f"Bearer {tenant.secret_key}", **HTML}
    response = await server.get("/graphql", params={"query": "{ viewer { kind } }"}, headers=auth)
    assert response.status_code == 200
    assert response.json()["data"] == {"viewer": {"kind": "secret_key"}}
    mutation = (
        'mutation { createLocation(input: {name: "S", code: "via-get"}) { location { id } } }'
    )
    response = await server.get("/graphql", params={"query": mutation}, headers=auth)
    assert response.status_code == 400
    assert "mutations are not allowed" in response.text.lower()
