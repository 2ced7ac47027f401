"""Inbound Shopify orders/create webhooks through HTTP."""

from __future__ import annotations

import gzip
import json
from typing import Any

from tests.helpers import gid, new_tenant
from tests.tracking_helpers import basic, contacts_of, events_of

URL = "/v1/webhooks/shopify/orders-create"
HEADERS = {"X-Shopify-Topic": "orders/create", "X-Shopify-Shop-Domain": "demo.myshopify.com"}
CONTACTS = """{ contacts(first: 10) { totalCount edges { node {
  id userId email phone
  events(first: 10) { totalCount edges { node { type event messageId properties context timestamp } } }
  eventStats { name count } } } } }"""


def order(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": 450789469,
        "order_number": 1001,
        "email": "bob@example.com",
        "created_at": "2026-11-20T10:15:00-05:00",
        "currency": "EUR",
        "total_price": "409.94",
        "customer": {
            "id": 207119551,
            "email": "Bob.Norman@Example.com",
            "first_name": "Bob",
            "last_name": "Norman",
            "phone": "+16136120707",
        },
        "line_items": [
            {
                "product_id": 632910392,
                "title": "IPod Nano - 8gb",
                "quantity": 2,
                "price": "199.00",
                "sku": "IPOD2008BLACK",
            }
        ],
        "note": "ignored",
    }
    payload.update(changes)
    return payload


async def test_an_order_creates_the_contact_and_an_order_completed_event(api, services):
    t = await new_tenant()
    response = await api.http.post(URL, json=order(), headers={**HEADERS, **basic(t.write_key)})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    assert (body["accepted"], body["duplicates"]) == (1, 0)
    assert body["messageId"] == "shopify-order-450789469"

    data = (await api.gql(t.secret_key, CONTACTS))["contacts"]
    assert data["totalCount"] == 1
    contact = data["edges"][0]["node"]
    assert contact["id"] == gid("Contact", body["contactId"])  # tracking API: raw ids
    assert (contact["userId"], contact["email"], contact["phone"]) == (
        "shopify:207119551",
        "bob.norman@example.com",
        "+16136120707",
    )
    [event] = [e["node"] for e in contact["events"]["edges"]]
    assert (event["type"], event["event"], event["messageId"]) == (
        "track",
        "order_completed",
        "shopify-order-450789469",
    )
    assert event["properties"] == {
        "order_id": "450789469",
        "order_number": 1001,
        "total": 409.94,
        "currency": "EUR",
        "products": [
            {
                "product_id": "632910392",
                "sku": "IPOD2008BLACK",
                "name": "IPod Nano - 8gb",
                "price": 199.0,
                "quantity": 2,
            }
        ],
    }
    assert event["context"]["shopify"] == {"shop_domain": "demo.myshopify.com"}
    assert event["timestamp"].startswith("2026-11-20T15:15:00")
    assert contact["eventStats"] == [{"name": "order_completed", "count": 1}]
    [stored] = await events_of(t)
    assert stored.source == "shopify"


async def test_an_order_joins_the_contact_already_known_by_email(api, services):
    t = await new_tenant()
    identify = {"userId": "crm-42", "traits": {"email": "bob.norman@example.com"}}
    response = await api.http.post("/v1/identify", json=identify, headers=basic(t.write_key))
    assert response.status_code == 200
    guest = order(customer=None, email="Bob.Norman@example.com")
    response = await api.http.post(URL, json=guest, headers=basic(t.write_key))
    assert response.status_code == 200, response.text
    [contact] = await contacts_of(t)
    assert contact.user_id == "crm-42"
    assert str(contact.id) == response.json()["contactId"]
    assert sorted(e.type for e in await events_of(t)) == ["identify", "track"]


async def test_a_retried_delivery_stores_nothing_twice(api, services):
    t = await new_tenant()
    headers = {**HEADERS, **basic(t.write_key)}
    first = await api.http.post(URL, json=order(), headers=headers)
    assert first.status_code == 200 and first.json()["accepted"] == 1
    # Shopify retries the same payload; gzip and a bearer secret key work too.
    body = gzip.compress(json.dumps(order()).encode())
    again = await api.http.post(
        URL,
        content=body,
        headers={
            **HEADERS,
            "Authorization": f"Bearer {t.secret_key}",
            "Content-Encoding": "gzip",
            "Content-Type": "application/json",
        },
    )
    assert again.status_code == 200, again.text
    assert (again.json()["accepted"], again.json()["duplicates"]) == (0, 1)
    assert again.json()["contactId"] == first.json()["contactId"]
    assert len(await events_of(t)) == 1
    [contact] = await contacts_of(t)
    assert contact.event_stats["order_completed"]["count"] == 1


async def test_malformed_json_is_400(api, services):
    t = await new_tenant()
    headers = {**basic(t.write_key), "Content-Type": "application/json"}
    response = await api.http.post(URL, content=b'{"id": 1,', headers=headers)
    assert response.status_code == 400
    assert "Malformed JSON" in response.json()["error"]
    assert await events_of(t) == []


async def test_missing_or_bad_credentials_are_refused(api, services):
    t = await new_tenant()
    assert (await api.http.post(URL, json=order())).status_code == 401
    response = await api.http.post(URL, json=order(), headers=basic("rk_write_nope"))
    assert response.status_code == 401 and response.json()["error"]
    # Even a malformed body is answered 401 first: nothing is parsed for strangers.
    response = await api.http.post(URL, content=b"{", headers={"Content-Type": "application/json"})
    assert response.status_code == 401
    # An HMAC header alone is no credential.
    response = await api.http.post(
        URL, json=order(), headers={"X-Shopify-Hmac-Sha256": "c2lnbmF0dXJl"}
    )
    assert response.status_code == 401
    reader = await api.gql(
        t.secret_key, 'mutation { issueApiKey(input: {name: "r", scopes: ["read"]}) { key } }'
    )
    response = await api.http.post(URL, json=order(), headers=basic(reader["issueApiKey"]["key"]))
    assert response.status_code == 403
    assert await events_of(t) == []


async def test_bad_payloads_get_400_with_the_reason(api, services):
    t = await new_tenant()
    headers = basic(t.write_key)
    cases = [
        ([1, 2], None, "JSON object"),
        ({k: v for k, v in order().items() if k != "id"}, "id", "required"),
        (order(total_price="free"), "total_price", "decimal amount"),
        (order(customer={"id": "bob"}), "customer.id", "numeric id"),
        (
            order(line_items=[{"title": "x", "price": "1", "quantity": "many"}]),
            "line_items[0].quantity",
            "whole number",
        ),
        (order(created_at="soon"), "created_at", "ISO 8601"),
    ]
    for payload, field, needle in cases:
        response = await api.http.post(URL, json=payload, headers=headers)
        assert response.status_code == 400, payload
        body = response.json()
        assert body["success"] is False
        assert body["field"] == field and needle in body["error"], body
    other_topic = await api.http.post(
        URL, json=order(), headers={**headers, "X-Shopify-Topic": "orders/cancelled"}
    )
    assert other_topic.status_code == 400 and "orders/create" in other_topic.json()["error"]
    assert await events_of(t) == []
    assert await contacts_of(t) == []
