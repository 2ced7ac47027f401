"""Engagement endpoints people and providers call: the email open pixel, click redirects,
unsubscribe pages (with RFC 8058 one-click POST), Twilio-style status callbacks and
inbound replies. Every URL carries a signed token naming the message (resolvers/links.py).
"""

from __future__ import annotations

import base64
import html
import logging

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from engine.errors import DomainError, Forbidden, NotFound
from resolvers.core import runtime
from resolvers.messaging import engagement

log = logging.getLogger("reach.engagement")

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_STORE = {"Cache-Control": "no-store, max-age=0"}
MAX_FORM_FIELDS = 100


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<meta name='viewport' content='width=device-width'></head>"
        "<body style='font-family:sans-serif;max-width:32rem;margin:4rem auto'>"
        f"{body}</body></html>",
        status_code=status,
        headers=NO_STORE,
    )


def _status_for(error: DomainError) -> int:
    if isinstance(error, NotFound):
        return 404
    return 403 if isinstance(error, Forbidden) else 400


async def open_pixel(request: Request) -> Response:
    try:
        await engagement.link_opened(request.path_params["token"])
    except DomainError:
        pass  # a broken or forged pixel still gets an image, and records nothing
    return Response(PIXEL, media_type="image/gif", headers=NO_STORE)


async def click(request: Request) -> Response:
    try:
        target = await engagement.link_clicked(request.path_params["token"])
    except DomainError:
        return _page("Link not valid", "<p>This link is not valid.</p>", 400)
    return RedirectResponse(target, status_code=302, headers=NO_STORE)


async def unsubscribe_page(request: Request) -> Response:
    # GET only shows a button: mail scanners follow links, and must not unsubscribe anyone.
    token = html.escape(request.path_params["token"], quote=True)
    return _page(
        "Unsubscribe",
        "<p>Stop receiving these messages?</p>"
        f"<form method='post' action='/t/u/{token}'><button type='submit'>Unsubscribe</button>"
        "</form>",
    )


async def unsubscribe(request: Request) -> Response:
    try:
        row = await engagement.unsubscribe(request.path_params["token"])
    except DomainError:
        return _page("Link not valid", "<p>This unsubscribe link is not valid.</p>", 400)
    return _page(
        "Unsubscribed",
        f"<p>You will not receive {html.escape(row.channel)} messages from us any more.</p>",
    )


async def _form(request: Request):
    return await request.form(max_fields=MAX_FORM_FIELDS, max_files=0)


def _signed_url(request: Request) -> str:
    """The URL the provider signed: our public address, not what a proxy forwarded."""
    base = runtime.get().public_url.rstrip("/")
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{base}{request.url.path}{query}"


async def _callback(request: Request, handle) -> JSONResponse | str:
    """Read a provider's signed form callback and hand it to `handle`; errors answer 4xx."""
    try:
        form = await _form(request)
        return await handle(
            request.path_params["token"],
            _signed_url(request),
            form,
            request.headers.get("x-twilio-signature"),
        )
    except DomainError as error:
        return JSONResponse({"error": error.message, "code": error.code}, _status_for(error))


async def provider_status(request: Request) -> Response:
    status = await _callback(request, engagement.provider_status)
    return status if isinstance(status, Response) else JSONResponse({"status": status})


async def provider_inbound(request: Request) -> Response:
    outcome = await _callback(request, engagement.provider_inbound)
    if isinstance(outcome, Response):
        return outcome
    log.info("inbound message: %s", outcome)
    # Twilio expects TwiML; an empty response sends no automatic reply.
    return Response("<Response></Response>", media_type="application/xml")


routes = [
    Route("/t/o/{token}.gif", open_pixel),
    Route("/t/c/{token}", click),
    Route("/t/u/{token}", unsubscribe_page, methods=["GET"]),
    Route("/t/u/{token}", unsubscribe, methods=["POST"]),
    Route("/v1/providers/status/{token}", provider_status, methods=["POST"]),
    Route("/v1/providers/inbound/{token}", provider_inbound, methods=["POST"]),
]
