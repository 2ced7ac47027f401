"""Inbound partner webhooks: Shopify `orders/create` -> an `order_completed` event.

    POST /v1/webhooks/shopify/orders-create
    Authorization: Basic base64("<write key>:")   (or Bearer <secret key with 'track'>)
    X-Shopify-Topic: orders/create                (optional; another topic is refused)
    X-Shopify-Shop-Domain: shop.myshopify.com     (optional; kept in context.shopify)
    body: the order JSON as Shopify sends it (gzip accepted)

Design choices:

- Credentials are the tracking API's (resolvers.auth.authenticate_tracking): a write key
  as the basic-auth username or a secret key with the `track` scope. The workspace comes
  from the key, never from the URL, and no key travels in a query string (URLs end up in
  logs). The sender must be able to set a header: Shopify Flow's "Send HTTP request"
  action, a webhook relay, or the brand's own middleware.
- Shopify's own signature (X-Shopify-Hmac-Sha256 = base64 HMAC-SHA256 of the raw body)
  is *not* verified: its secret is chosen by Shopify (the app's client secret, or the
  signing key shown in the shop admin), so verifying it needs that secret stored per
  source, and our keys are stored only as hashes. Direct delivery from Shopify is a
  follow-up: a webhook-source document holding the signing secret, with the source id
  in the URL. The header is ignored meanwhile.
- Mapping lives in engine.shopify (pure). The message id is "shopify-order-<order id>",
  so Shopify's retries (it retries until it gets a 2xx) are stored once: a repeat
  answers 200 with `duplicates: 1`.
- Answers: 200 {success, accepted, duplicates, messageId, contactId, warnings};
  400 malformed JSON, wrong topic or an unmappable order (with the reason and field);
  401/403 bad credentials; 413 too large; 415 unknown Content-Encoding.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from engine.errors import DomainError
from engine.messages import MAX_BATCH_BYTES
from engine.shopify import TOPIC, order_message
from reach.tracking import BadRequest, _auth_error, _error, _read_json
from resolvers.accounts.auth import authenticate_tracking
from resolvers.events import ingest

SOURCE = "shopify"


async def shopify_orders_create(request: Request) -> JSONResponse:
    try:
        principal = await authenticate_tracking(request.headers.get("authorization"), None)
    except DomainError as error:
        return _auth_error(error)
    topic = request.headers.get("x-shopify-topic")
    if topic is not None and topic.strip() != TOPIC:
        return _error(400, f"This endpoint takes {TOPIC} webhooks, not {topic[:60]!r}.")
    try:
        payload = await _read_json(request, MAX_BATCH_BYTES)
        message = order_message(payload)
    except BadRequest as error:
        return _error(error.status, error.message)
    except DomainError as error:
        body = {"success": False, "error": error.message, "field": error.field, "code": error.code}
        return JSONResponse(body, status_code=400)
    shop = request.headers.get("x-shopify-shop-domain")
    if shop:
        message["context"]["shopify"] = {"shop_domain": shop.strip()[:255]}
    try:
        result = await ingest.ingest(principal, [message], source=SOURCE)
    except DomainError as error:
        return _auth_error(error)
    if result.rejected:
        problem = result.rejected[0]
        body = {"success": False, "error": problem.reason, "field": problem.field}
        return JSONResponse(body, status_code=400)
    return JSONResponse(
        {
            "success": True,
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "messageId": message["messageId"],
            "contactId": result.contact_ids.get(0),
            "warnings": [p.as_json() for p in result.warnings],
        }
    )


routes = [
    Route("/v1/webhooks/shopify/orders-create", shopify_orders_create, methods=["POST"]),
]
