"""GET /v1/projects/<writeKey>/settings: the settings analytics.js loads before it sends.

Segment's browser SDK (analytics-next) fetches `<cdnURL>/v1/projects/<writeKey>/settings`
and sends events to the host its "Segment.io" integration names. Pointing the SDK's
`cdnURL` at Reach is then all a site changes: the answer names Reach itself as the API
host, with no other destinations, so the SDK loads no extra bundles and calls no one else.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from engine.errors import DomainError
from engine.keys import token_kind
from resolvers.accounts.auth import authenticate_tracking


def _api_host(request: Request, public_url: str | None) -> tuple[str, str]:
    """(host with the /v1 prefix, protocol) the SDK should send to."""
    if public_url:
        parts = urlsplit(public_url)
        return f"{parts.netloc}{parts.path.rstrip('/')}/v1", parts.scheme or "https"
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    return f"{host}/v1", request.url.scheme


def settings_document(write_key: str, api_host: str, protocol: str) -> dict[str, object]:
    segmentio = {"apiKey": write_key, "apiHost": api_host, "protocol": protocol}
    return {
        "integrations": {"Segment.io": segmentio},
        "plan": {"track": {"__default": {"enabled": True}}},
        "edgeFunction": {},
        "analyticsNextEnabled": True,
        "middlewareSettings": {},
        "enabledMiddleware": {},
        "metrics": {"sampleRate": 0, "host": api_host},  # no SDK telemetry sent anywhere
        "legacyVideoPluginsEnabled": False,
        "remotePlugins": [],
    }


def routes(public_url: str | None) -> list[Route]:
    async def project_settings(request: Request) -> JSONResponse:
        write_key = request.path_params["write_key"]
        try:
            if token_kind(write_key) != "write":  # a secret key never belongs in a page
                raise DomainError("not a write key")
            await authenticate_tracking(None, write_key)
        except DomainError:
            # Segment answers an unknown key with 404; which keys exist is not said.
            body = {"success": False, "message": "No project has this write key."}
            return JSONResponse(body, status_code=404)
        api_host, protocol = _api_host(request, public_url)
        return JSONResponse(
            settings_document(write_key, api_host, protocol),
            headers={"Cache-Control": "public, max-age=60"},
        )

    return [Route("/v1/projects/{write_key}/settings", project_settings, methods=["GET"])]
