"""Shopify `orders/create` webhook payloads -> one Segment `track` message (pure, no I/O).

The message (see https://shopify.dev/docs/api/webhooks?reference=toml#list-of-topics-orders/create
and Segment's e-commerce spec, "Order Completed"):

- type "track", event "order_completed";
- messageId "shopify-order-<order id>": Shopify retries a delivery until it gets a 2xx,
  and every retry (and a re-sent webhook) carries the same order id, so ingestion's
  per-workspace message_id deduplication stores the order once;
- userId "shopify:<customer id>" when the order has a customer: prefixed so Shopify's
  numeric customer ids never collide with the brand's own user ids. Without a customer
  (some POS or draft orders) the message is anonymous, anonymousId "shopify-order:<id>",
  and identity resolution still finds the contact by email or phone when the order has one;
- context.traits: email and phone (the customer's, else the order's), firstName and
  lastName: the identifiers identity resolution matches on (a track never writes
  profile properties);
- timestamp: the order's created_at;
- properties: order_id (string), order_number, total (float), subtotal, tax, discount,
  currency (upper-case ISO 4217) and products [{product_id, sku, name, price, quantity}].

Malformed payloads raise InvalidInput naming the offending field ("line_items[2].price");
nothing else is raised for any JSON value.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from engine.errors import InvalidInput
from engine.traits import parse_datetime

EVENT = "order_completed"
USER_PREFIX = "shopify:"
ANONYMOUS_PREFIX = "shopify-order:"
MESSAGE_PREFIX = "shopify-order-"
TOPIC = "orders/create"
LIBRARY = {"name": "reach-shopify-webhook", "version": "1"}
MAX_LINE_ITEMS = 250
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")
_DIGITS = re.compile(r"^[0-9]{1,20}$")


def _id(value: Any, field: str, *, required: bool) -> str | None:
    """Shopify ids: positive integers, sometimes sent as strings."""
    if value is None or value == "":
        if required:
            raise InvalidInput(f"{field} is required.", field=field)
        return None
    if isinstance(value, bool):
        raise InvalidInput(f"{field} must be a numeric id.", field=field)
    if isinstance(value, int):
        if value <= 0 or value.bit_length() > 64:
            raise InvalidInput(f"{field} must be a positive 64-bit id.", field=field)
        return str(value)
    if isinstance(value, str) and _DIGITS.match(value.strip()):
        text = value.strip().lstrip("0")
        if not text:
            raise InvalidInput(f"{field} must be a positive id.", field=field)
        return text
    raise InvalidInput(f"{field} must be a numeric id; got {str(value)[:40]!r}.", field=field)


def _money(value: Any, field: str, *, required: bool = False) -> float | None:
    """Shopify money amounts are decimal strings ("19.99"); numbers are accepted too."""
    if value is None or value == "":
        if required:
            raise InvalidInput(f"{field} is required.", field=field)
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidInput(f"{field} must be a decimal amount.", field=field)
    if isinstance(value, int):
        value = float(value) if value.bit_length() <= 128 else math.inf
    if isinstance(value, str) and len(value) > 40:
        raise InvalidInput(f"{field} must be a decimal amount of at most 40 characters.", field)
    try:
        amount = float(Decimal(str(value).strip()))
    except (InvalidOperation, ValueError, OverflowError) as error:
        raise InvalidInput(
            f"{field} must be a decimal amount; got {str(value)[:40]!r}.", field=field
        ) from error
    if not math.isfinite(amount):
        raise InvalidInput(f"{field} must be a finite amount.", field=field)
    if amount < 0:
        raise InvalidInput(f"{field} must not be negative.", field=field)
    return amount


def _text(value: Any, field: str, limit: int = 500) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string.", field=field)
    text = value.strip()
    if len(text) > limit:
        raise InvalidInput(f"{field} may be at most {limit} characters.", field=field)
    return text or None


def _object(value: Any, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"{field} must be an object.", field=field)
    return value


def _quantity(value: Any, field: str) -> int:
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidInput(f"{field} must be a whole number.", field=field)
    if isinstance(value, int):
        number = float(value) if value.bit_length() <= 64 else math.inf
    else:
        try:
            if isinstance(value, str) and len(value) > 40:
                raise ValueError("too long")
            number = float(value)
        except ValueError as error:
            raise InvalidInput(f"{field} must be a whole number.", field=field) from error
    if not number.is_integer() or number < 0 or number > 1_000_000:
        raise InvalidInput(f"{field} must be a whole number from 0.", field=field)
    return int(number)


def _product(item: Any, index: int) -> dict[str, Any]:
    path = f"line_items[{index}]"
    if not isinstance(item, dict):
        raise InvalidInput(f"{path} must be an object.", field=path)
    product: dict[str, Any] = {
        # Custom line items have no product: product_id null.
        "product_id": _id(item.get("product_id"), f"{path}.product_id", required=False),
        "sku": _text(item.get("sku"), f"{path}.sku"),
        "name": _text(item.get("title"), f"{path}.title"),
        "price": _money(item.get("price"), f"{path}.price", required=True),
        "quantity": _quantity(item.get("quantity"), f"{path}.quantity"),
    }
    return {k: v for k, v in product.items() if v is not None}


def order_message(payload: Any) -> dict[str, Any]:
    """The Segment track message for one orders/create payload; InvalidInput if malformed."""
    if not isinstance(payload, dict):
        raise InvalidInput("The webhook body must be a JSON object (a Shopify order).")
    order_id = _id(payload.get("id"), "id", required=True)
    customer = _object(payload.get("customer"), "customer")
    customer_id = _id(customer.get("id"), "customer.id", required=False)
    email = _text(customer.get("email"), "customer.email", 320) or _text(
        payload.get("email"), "email", 320
    )
    phone = _text(customer.get("phone"), "customer.phone", 40) or _text(
        payload.get("phone"), "phone", 40
    )
    first_name = _text(customer.get("first_name"), "customer.first_name", 200)
    last_name = _text(customer.get("last_name"), "customer.last_name", 200)

    created_at = payload.get("created_at")
    timestamp = None
    if created_at is not None:
        try:
            timestamp = parse_datetime(created_at).isoformat()
        except (ValueError, TypeError, OverflowError, OSError) as error:
            raise InvalidInput("created_at is not an ISO 8601 date-time.", "created_at") from error

    currency = payload.get("currency")
    if currency is not None:
        if not isinstance(currency, str) or not _CURRENCY.match(currency.strip()):
            raise InvalidInput("currency must be a three-letter ISO 4217 code.", "currency")
        currency = currency.strip().upper()

    order_number = payload.get("order_number")
    if isinstance(order_number, str):
        digits = _id(order_number, "order_number", required=False)
        order_number = int(digits) if digits is not None else None
    if order_number is not None and (
        isinstance(order_number, bool)
        or not isinstance(order_number, int | str)
        or (isinstance(order_number, int) and not 0 <= order_number < 2**63)
    ):
        raise InvalidInput("order_number must be a whole number.", field="order_number")

    items = payload.get("line_items")
    if items is None:
        items = []
    if not isinstance(items, list):
        raise InvalidInput("line_items must be an array.", field="line_items")
    if len(items) > MAX_LINE_ITEMS:
        raise InvalidInput(f"An order may have at most {MAX_LINE_ITEMS} line items.", "line_items")

    properties: dict[str, Any] = {
        "order_id": order_id,
        "order_number": order_number,
        "total": _money(payload.get("total_price"), "total_price", required=True),
        "subtotal": _money(payload.get("subtotal_price"), "subtotal_price"),
        "tax": _money(payload.get("total_tax"), "total_tax"),
        "discount": _money(payload.get("total_discounts"), "total_discounts"),
        "currency": currency,
        "products": [_product(item, i) for i, item in enumerate(items)],
    }
    traits = {"email": email, "phone": phone, "firstName": first_name, "lastName": last_name}
    message: dict[str, Any] = {
        "type": "track",
        "event": EVENT,
        "messageId": f"{MESSAGE_PREFIX}{order_id}",
        "properties": {k: v for k, v in properties.items() if v is not None},
        "context": {
            "library": LIBRARY,
            "traits": {k: v for k, v in traits.items() if v is not None},
        },
    }
    if customer_id is not None:
        message["userId"] = f"{USER_PREFIX}{customer_id}"
    else:
        message["anonymousId"] = f"{ANONYMOUS_PREFIX}{order_id}"
    if timestamp is not None:
        message["timestamp"] = timestamp
    return message
