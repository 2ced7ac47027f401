"""Shopify orders/create payload -> Segment track message."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import InvalidInput
from engine.messages import parse_message
from engine.shopify import order_message

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def order(**changes: Any) -> dict[str, Any]:
    """A trimmed orders/create payload as Shopify sends it."""
    payload: dict[str, Any] = {
        "id": 820982911946154508,
        "order_number": 1234,
        "email": "order-email@example.com",
        "phone": None,
        "created_at": "2026-11-20T10:15:00-05:00",
        "currency": "usd",
        "total_price": "254.98",
        "subtotal_price": "234.98",
        "total_tax": "20.00",
        "total_discounts": "0.00",
        "customer": {
            "id": 115310627314723954,
            "email": "Jon@Example.com",
            "first_name": "Jon",
            "last_name": "Snow",
            "phone": "+16135551111",
        },
        "line_items": [
            {
                "product_id": 632910392,
                "title": "IPod Nano - 8GB",
                "quantity": 1,
                "price": "199.00",
                "sku": "IPOD2008PINK",
            },
            {"product_id": None, "title": "Gift wrap", "quantity": 2, "price": "17.99", "sku": ""},
        ],
    }
    payload.update(changes)
    return payload


def test_maps_an_order_to_order_completed() -> None:
    message = order_message(order())
    assert message == {
        "type": "track",
        "event": "order_completed",
        "messageId": "shopify-order-820982911946154508",
        "userId": "shopify:115310627314723954",
        "timestamp": "2026-11-20T10:15:00-05:00",
        "properties": {
            "order_id": "820982911946154508",
            "order_number": 1234,
            "total": 254.98,
            "subtotal": 234.98,
            "tax": 20.0,
            "discount": 0.0,
            "currency": "USD",
            "products": [
                {
                    "product_id": "632910392",
                    "sku": "IPOD2008PINK",
                    "name": "IPod Nano - 8GB",
                    "price": 199.0,
                    "quantity": 1,
                },
                {"name": "Gift wrap", "price": 17.99, "quantity": 2},
            ],
        },
        "context": {
            "library": {"name": "reach-shopify-webhook", "version": "1"},
            "traits": {
                "email": "Jon@Example.com",
                "phone": "+16135551111",
                "firstName": "Jon",
                "lastName": "Snow",
            },
        },
    }
    parsed = parse_message(message, NOW)  # what ingestion does with it
    assert (parsed.user_id, parsed.email, parsed.phone) == (
        "shopify:115310627314723954",
        "Jon@Example.com",
        "+16135551111",
    )
    assert parsed.timestamp == datetime(2026, 11, 20, 15, 15, tzinfo=UTC)


def test_same_order_same_message_id_whatever_else_changes() -> None:
    first = order_message(order())
    retried = order_message(order(total_price="1.00", id="820982911946154508"))
    assert first["messageId"] == retried["messageId"]
    assert order_message(order(id=1))["messageId"] == "shopify-order-1"


def test_order_without_customer_is_anonymous_and_falls_back_to_order_contacts() -> None:
    message = order_message(order(customer=None, phone="+14155550100"))
    assert "userId" not in message
    assert message["anonymousId"] == "shopify-order:820982911946154508"
    assert message["context"]["traits"] == {
        "email": "order-email@example.com",
        "phone": "+14155550100",
    }
    parse_message(message, NOW)
    bare = order_message({"id": 5, "total_price": 10})
    assert bare["properties"] == {"order_id": "5", "total": 10.0, "products": []}
    assert bare["context"]["traits"] == {} and "timestamp" not in bare
    parse_message(bare, NOW)


def test_numeric_strings_and_numbers_are_both_accepted() -> None:
    message = order_message(
        order(
            total_price=12,
            order_number="1001",
            line_items=[{"title": "x", "price": 3.5, "quantity": "2", "product_id": "7"}],
        )
    )
    assert message["properties"]["total"] == 12.0
    assert message["properties"]["order_number"] == 1001
    assert message["properties"]["products"] == [
        {"product_id": "7", "name": "x", "price": 3.5, "quantity": 2}
    ]


@pytest.mark.parametrize(
    ("payload", "field", "needle"),
    [
        ([1, 2], None, "JSON object"),
        ("order", None, "JSON object"),
        (order(id=None), "id", "required"),
        ({k: v for k, v in order().items() if k != "id"}, "id", "required"),
        (order(id="abc"), "id", "numeric id"),
        (order(id=True), "id", "numeric id"),
        (order(id=-3), "id", "positive"),
        (order(id=2**70), "id", "64-bit"),
        (order(id=1.5), "id", "numeric id"),
        (order(id={"$gt": 0}), "id", "numeric id"),
        (order(total_price=None), "total_price", "required"),
        (order(total_price="twelve"), "total_price", "decimal amount"),
        (order(total_price="NaN"), "total_price", "finite"),
        (order(total_price="1e400"), "total_price", "finite"),
        (order(total_price="-5.00"), "total_price", "negative"),
        (order(total_price=[1]), "total_price", "decimal amount"),
        (order(total_price=False), "total_price", "decimal amount"),
        (order(total_price="9" * 100), "total_price", "40 characters"),
        (order(total_tax="n/a"), "total_tax", "decimal amount"),
        (order(currency="dollars"), "currency", "ISO 4217"),
        (order(currency=840), "currency", "ISO 4217"),
        (order(created_at="last tuesday"), "created_at", "ISO 8601"),
        (order(created_at={"at": 1}), "created_at", "ISO 8601"),
        (order(customer="jon"), "customer", "object"),
        (order(customer={"id": "x1"}), "customer.id", "numeric id"),
        (order(customer={"id": 1, "email": 42}), "customer.email", "string"),
        (order(email=["a@b.c"], customer=None), "email", "string"),
        (order(order_number=True), "order_number", "whole number"),
        (order(order_number="#1001"), "order_number", "numeric id"),
        (order(line_items={"0": {}}), "line_items", "array"),
        (order(line_items=[{"price": "1"}] * 251), "line_items", "at most 250"),
        (order(line_items=["item"]), "line_items[0]", "object"),
        (order(line_items=[{"title": "x"}]), "line_items[0].price", "required"),
        (order(line_items=[{"price": "1", "quantity": 1.5}]), "line_items[0].quantity", "whole"),
        (order(line_items=[{"price": "1", "quantity": -1}]), "line_items[0].quantity", "whole"),
        (
            order(line_items=[{"price": "1", "quantity": 10**500}]),
            "line_items[0].quantity",
            "whole",
        ),
        (order(line_items=[{"price": "1", "quantity": "lots"}]), "line_items[0].quantity", "whole"),
        (
            order(line_items=[{"price": "1"}, {"price": "1", "title": 7}]),
            "line_items[1].title",
            "string",
        ),
        (order(line_items=[{"price": "1", "product_id": "p-1"}]), "line_items[0].product_id", "id"),
        (order(line_items=[{"price": "1", "sku": "x" * 501}]), "line_items[0].sku", "at most"),
    ],
)
def test_malformed_payloads_get_a_clear_error(payload: Any, field: str | None, needle: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        order_message(payload)
    assert raised.value.field == field
    assert needle in raised.value.message


def test_the_payload_is_not_modified() -> None:
    payload = order()
    before = copy.deepcopy(payload)
    order_message(payload)
    assert payload == before


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = st.sampled_from(
    [
        "id",
        "total_price",
        "currency",
        "created_at",
        "customer",
        "line_items",
        "order_number",
        "email",
        "phone",
        "total_tax",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(FIELDS, JSON, max_size=8) | JSON)
def test_any_json_maps_or_fails_with_invalid_input(payload: Any) -> None:
    try:
        message = order_message(payload)
    except InvalidInput as error:
        assert error.message
        return
    parse_message(message, NOW)  # whatever maps is a valid Segment message


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "product_id": JSON,
                "title": JSON,
                "quantity": JSON,
                "price": JSON,
                "sku": JSON,
            },
        ),
        max_size=3,
    )
)
def test_any_line_items_map_or_fail_with_invalid_input(items: list) -> None:
    try:
        message = order_message(order(line_items=items))
    except InvalidInput as error:
        assert error.field and error.field.startswith("line_items")
        return
    assert len(message["properties"]["products"]) == len(items)
