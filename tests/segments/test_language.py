"""suggestSegmentRules through GraphQL: rules in the workspace's own event names."""

from __future__ import annotations

from documents.user import Membership, User
from resolvers.accounts.passwords import hash_password
from tests.helpers import new_tenant, unique_email
from tests.tracking_helpers import basic, contacts_of

SUGGEST = """query($text: String!) {
  suggestSegmentRules(text: $text) {
    rules
    understood { phrase rule }
    notUnderstood { phrase reason suggestions }
  }
}"""


async def _tenant_with_events(api, events: list[str]):
    t = await new_tenant()
    batch = [
        {"type": "identify", "userId": "u1", "traits": {"email": "u1@example.com", "city": "Pune"}},
        *[{"type": "track", "userId": "u1", "event": name} for name in events],
        {"type": "track", "userId": "u2", "event": events[0]},
        {"type": "page", "userId": "u2", "name": "Home"},
    ]
    response = await api.http.post("/v1/batch", json={"batch": batch}, headers=basic(t.write_key))
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == len(batch)
    return t


async def _suggest(api, token: str, text: str) -> dict:
    return (await api.gql(token, SUGGEST, {"text": text}))["suggestSegmentRules"]


async def test_seed_sentences_use_each_workspaces_own_event_names(api, services):
    shop = await _tenant_with_events(api, ["order_completed", "onboarding_completed"])
    app = await _tenant_with_events(api, ["purchase", "completed_onboarding", "Order.Refunded"])
    for tenant, purchase, onboarding in (
        (shop, "order_completed", "onboarding_completed"),
        (app, "purchase", "completed_onboarding"),
    ):
        got = await _suggest(
            api,
            tenant.secret_key,
            "purchased in the last 30 days and opened an email in the last 7 days",
        )
        assert got["rules"] == {
            "all": [
                {"event": purchase, "within_days": 30, "count": {"gte": 1}},
                {"engagement": "opened", "channel": "email", "within_days": 7},
            ]
        }
        assert [u["phrase"] for u in got["understood"]] == [
            "purchased in the last 30 days",
            "opened an email in the last 7 days",
        ]
        assert got["notUnderstood"] == []
        got = await _suggest(api, tenant.secret_key, "located in Mumbai and on the Pro plan")
        assert got["rules"] == {
            "all": [
                {"property": "city", "op": "eq", "value": "Mumbai"},
                {"property": "plan", "op": "eq", "value": "Pro"},
            ]
        }
        got = await _suggest(
            api, tenant.secret_key, "completed onboarding but hasn't made a purchase"
        )
        assert got["rules"] == {"all": [{"event": onboarding}, {"not": {"event": purchase}}]}
        assert got["understood"][1] == {
            "phrase": "hasn't made a purchase",
            "rule": {"not": {"event": purchase}},
        }


async def test_vocabulary_includes_custom_fields_tags_and_escaped_event_names(api, services):
    t = await _tenant_with_events(api, ["Order.Refunded", "signup"])
    data = await api.gql(
        t.secret_key,
        'mutation { defineCustomField(key: "lifetime_value", type: NUMBER, label: "Lifetime value") '
        "{ userErrors { code } } }",
    )
    assert data["defineCustomField"]["userErrors"] == []
    [contact, *_] = [c for c in await contacts_of(t) if c.user_id == "u1"]
    data = await api.gql(
        t.secret_key,
        'mutation($id: ID!) { tagContact(id: $id, tags: ["VIP"]) { userErrors { code } } }',
        {"id": str(contact.id)},
    )
    assert data["tagContact"]["userErrors"] == []
    got = await _suggest(api, t.secret_key, "lifetime value over 500 and is a vip")
    assert got["rules"] == {
        "all": [
            {"property": "lifetime_value", "op": "gt", "value": 500},
            {"tag": "VIP"},
        ]
    }
    # A dotted event name (stored escaped on contacts) comes back as sent.
    got = await _suggest(api, t.secret_key, "order refunded at least twice")
    assert got["rules"] == {"event": "Order.Refunded", "count": {"gte": 2}}


async def test_unknown_phrases_are_reported_with_closest_names(api, services):
    t = await _tenant_with_events(api, ["order_completed", "checkout_started"])
    got = await _suggest(api, t.secret_key, "purchased this week and started a free trial")
    assert got["rules"] == {"event": "order_completed", "within_days": 7, "count": {"gte": 1}}
    [problem] = got["notUnderstood"]
    assert problem["phrase"] == "started a free trial"
    assert "checkout_started" in problem["suggestions"]
    got = await _suggest(api, t.secret_key, "completed onboarding")
    assert got["rules"] is None and got["understood"] == []
    assert got["notUnderstood"][0]["phrase"] == "completed onboarding"
    got = await _suggest(api, t.secret_key, "x" * 20_000)
    assert got["rules"] is None
    assert any("Only the first" in n["reason"] for n in got["notUnderstood"])


async def test_readers_and_viewers_may_ask_write_keys_may_not(api, services):
    t = await _tenant_with_events(api, ["order_completed"])
    reader = (
        await api.gql(
            t.secret_key, 'mutation { issueApiKey(input: {name: "r", scopes: ["read"]}) { key } }'
        )
    )["issueApiKey"]["key"]
    assert (await _suggest(api, reader, "never purchased"))["rules"] == {
        "not": {"event": "order_completed"}
    }
    email = unique_email("viewer")
    user = await User(email=email, password_hash=await hash_password("pass phrase 123")).insert()
    await Membership(organization_id=t.organization_id, user_id=user.id, role="viewer").insert()
    viewer = await api.login(email, "pass phrase 123")
    assert (await _suggest(api, viewer, "bought twice"))["rules"] == {
        "event": "order_completed",
        "count": {"gte": 2},
    }
    tracker = (
        await api.gql(
            t.secret_key,
            'mutation { issueApiKey(input: {name: "t", scopes: ["track"]}) { key } }',
        )
    )["issueApiKey"]["key"]
    [error] = await api.errors(tracker, SUGGEST, {"text": "bought twice"})
    assert error["extensions"]["code"] == "FORBIDDEN"


async def test_workspaces_do_not_see_each_others_events(api, services):
    await _tenant_with_events(api, ["teleported"])
    other = await _tenant_with_events(api, ["order_completed"])
    got = await _suggest(api, other.secret_key, "teleported")
    assert got["rules"] is None
    assert "teleported" not in got["notUnderstood"][0]["suggestions"]
