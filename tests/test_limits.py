"""Hardening: depth, alias and token limits, malformed queries, body size, masking, introspection."""

from __future__ import annotations

import json

from schema import build_schema
from schema.context import GraphQLContext
from tests.helpers import new_tenant
from tests.query_plans import RECORDER
from tests.tracking_helpers import basic


async def test_malformed_graphql_names_the_problem(api, services):
    tenant = await new_tenant()
    errors = await api.errors(tenant.secret_key, "{ viewer { kind ")
    assert "Syntax Error" in errors[0]["message"]
    errors = await api.errors(tenant.secret_key, "{ viewer { nope } }")
    assert "Cannot query field 'nope'" in errors[0]["message"]
    response = await api.http.post(
        "/graphql",
        content=b"{not json",
        headers={
            "Authorization": f"Bearer {tenant.secret_key}",
            "content-type": "application/json",
        },
    )
    assert response.status_code == 400
    assert "JSON" in response.text


async def test_alias_and_token_limits(api, services):
    tenant = await new_tenant()
    aliases = " ".join(f"a{i}: viewer {{ kind }}" for i in range(31))
    errors = await api.errors(tenant.secret_key, "{ %s }" % aliases)
    assert "aliases" in errors[0]["message"]

    tokens = "{ viewer { " + " ".join(["kind"] * 2100) + " } }"
    errors = await api.errors(tenant.secret_key, tokens)
    assert "token" in errors[0]["message"].lower()


async def test_query_depth_limit_applies(services):
    """Depth counts from the root field: locations(0) edges(1) node(2) id(3)."""
    schema = build_schema(mask_errors=False, introspection=True, max_depth=2)
    result = await schema.execute(
        "{ locations { edges { node { id } } } }", context_value=GraphQLContext(None, None)
    )
    assert result.errors and "exceeds maximum operation depth of 2" in result.errors[0].message


async def test_oversized_bodies_get_413(api, services, settings):
    tenant = await new_tenant()
    headers = {"Authorization": f"Bearer {tenant.secret_key}", "content-type": "application/json"}
    big = json.dumps(
        {"query": "{ viewer { kind } }", "variables": {"x": "y" * settings.max_body_bytes}}
    )
    response = await api.http.post("/graphql", content=big, headers=headers)
    assert response.status_code == 413
    assert "too large" in response.json()["errors"][0]["message"]

    async def chunks():  # no Content-Length: the limit counts what arrives
        for _ in range(10):
            yield b" " * (settings.max_body_bytes // 5)

    response = await api.http.post("/graphql", content=chunks(), headers=headers)
    assert response.status_code == 413
    # The service is fine afterwards.
    assert (await api.gql(tenant.secret_key, "{ viewer { kind } }"))["viewer"]["kind"]


async def test_unexpected_errors_are_masked_in_production(services):
    """An execution without a resolved caller is a server bug: clients see no detail."""
    query = "{ viewer { kind } }"
    production = build_schema(mask_errors=True, introspection=False)
    result = await production.execute(query, context_value=GraphQLContext(None, None))
    assert [e.message for e in result.errors] == ["Internal server error."]
    development = build_schema(mask_errors=False, introspection=True)
    result = await development.execute(query, context_value=GraphQLContext(None, None))
    assert "unauthenticated" in result.errors[0].message


async def test_introspection_is_configurable(services):
    query = "{ __schema { queryType { name } } }"
    on = build_schema(mask_errors=False, introspection=True)
    assert (await on.execute(query)).data == {"__schema": {"queryType": {"name": "Query"}}}
    off = build_schema(mask_errors=True, introspection=False)
    result = await off.execute(query)
    assert result.errors and "introspection" in result.errors[0].message.lower()


async def test_health_and_metrics(api, services):
    response = await api.http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "mongodb": "ok", "redis": "ok"}
    await api.http.post("/graphql", json={"query": "{ viewer { kind } }"})
    text = (await api.http.get("/metrics")).text
    assert 'reach_http_requests_total{method="POST",route="/graphql",status="401"}' in text
    assert 'reach_queue_depth{queue="system"}' in text


async def test_deep_or_non_utf8_json_bodies_get_400_and_the_service_keeps_serving(api, services):
    tenant = await new_tenant()
    deep = b'{"a": ' * 20_000 + b"1" + b"}" * 20_000
    bearer = {"Authorization": f"Bearer {tenant.secret_key}", "content-type": "application/json"}
    write = {**basic(tenant.write_key), "content-type": "application/json"}
    graphql_deep = b'{"query": "{ viewer { kind } }", "variables": ' + deep + b"}"
    for path, body, headers in (
        ("/v1/batch", deep, write),
        ("/v1/webhooks/shopify/orders-create", deep, write),
        ("/auth/login", deep, {"content-type": "application/json"}),
        ("/graphql", graphql_deep, bearer),
        ("/graphql", b'{"query": "{ viewer { kind } }", "x": "\xff"}', bearer),
        ("/graphql", b'{"query": "{ viewer { kind } }", "variables": {"x": NaN}}', bearer),
    ):
        response = await api.http.post(path, content=body, headers=headers)
        assert response.status_code == 400, (path, response.text[:200])
    assert (await api.gql(tenant.secret_key, "{ viewer { kind } }"))["viewer"]["kind"]


TEN_ALIASES = "{ %s }" % " ".join(
    f"c{i}: contacts(first: 100) {{ edges {{ node {{ id email"
    f" events {{ edges {{ node {{ event timestamp }} }} }} }} }} }}"
    for i in range(10)
)
FAN_OUT = """query($n: Int) { ...Segments }
fragment Segments on Query {
  segments(first: $n) { edges { node { ... on Segment {
    members(first: 100) { edges { node { ...Events } } } } } } }
}
fragment Events on Contact { events(first: 100) { edges { node { event } } } }"""
DASHBOARD = """{
  viewer { kind }
  contacts(first: 50) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id email phone tags createdAt events(first: 3) { edges { node { event } } } } }
  }
  segments(first: 20) { edges { node { id name memberCount } } }
  campaigns(first: 20) { totalCount edges { node { id name status } } }
}"""


async def test_costly_queries_are_refused_before_any_database_work(api, services):
    tenant = await new_tenant()
    for query, variables, cost in ((TEN_ALIASES, {}, 85_010), (FAN_OUT, {"n": 100}, 3_030_301)):
        with RECORDER.recording() as captured:
            errors = await api.errors(tenant.secret_key, query, variables)
        assert [e["message"] for e in errors] == [
            f"Query cost {cost} exceeds the limit 10000; ask for fewer items."
        ]
        touched = {c.collection for c in captured if tenant.workspace_id in str(c.filter)}
        assert touched.isdisjoint({"contacts", "events", "segments"}), touched


async def test_query_cost_counts_pages_fragments_and_defaults(services):
    schema = build_schema(mask_errors=False, introspection=True, max_cost=100)
    ok = "{ contacts(first: 9) { edges { node { id } } } }"  # 1 + 9 * (1 + 1 + 1) = 28
    result = await schema.execute(ok, context_value=GraphQLContext(None, None))
    assert not result.errors or "cost" not in result.errors[0].message
    # Without `first` a page counts its default size: 1 + 20 * (1 + 1 + 2) = 81, twice.
    twice = "{ a: contacts { edges { node { id email } } } b: contacts { ...C } }"
    twice += " fragment C on ContactConnection { edges { node { ... on Contact { id email } } } }"
    result = await schema.execute(twice, context_value=GraphQLContext(None, None))
    assert result.errors[0].message == "Query cost 162 exceeds the limit 100; ask for fewer items."
    # A variable's value counts; the result is refused before execution.
    query = "query($n: Int) { contacts(first: $n) { edges { node { id } } } }"
    result = await schema.execute(
        query, variable_values={"n": 50}, context_value=GraphQLContext(None, None)
    )
    assert result.errors[0].message.startswith("Query cost 151 exceeds")
    assert result.data is None


async def test_dashboard_queries_stay_within_the_cost_limit(api, services):
    tenant = await new_tenant()
    data = await api.gql(tenant.secret_key, DASHBOARD)
    assert data["viewer"]["kind"] == "secret_key"


async def test_health_says_unavailable_and_logs_the_reason(services, caplog):
    """A store that is down is 'unavailable' in the answer; the driver's text (hosts,
    ports, exception classes) goes to the log only."""
    from redis.asyncio import Redis

    from reach.services import Services
    from tests.conftest import free_port

    down = Redis.from_url(f"redis://127.0.0.1:{free_port()}", socket_connect_timeout=2)
    broken = Services(services.settings, services.mongo, down, services.broker)
    with caplog.at_level("WARNING", logger="reach"):
        checks = await broken.check()
    await down.aclose()
    assert checks == {"mongodb": "ok", "redis": "unavailable"}
    assert "redis unavailable" in caplog.text and "ConnectionError" in caplog.text
