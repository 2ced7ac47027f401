"""Shared HTTP transport of the providers: one client per event loop, URL checks, errors."""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import weakref
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx

from channels.base import SendError

# Provider APIs answer in well under a second; a slow one must not hold a worker for long.
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
# Kept alive: a delivery batch's wave (channels.base.DEFAULT_CONCURRENCY) per worker
# thread reuses its connections instead of a TLS handshake per message.
LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=50)
MAX_RETRY_AFTER = 3600.0  # seconds; a longer hint is capped, not trusted blindly

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)


def client() -> httpx.AsyncClient:
    """The shared client of the running loop (httpx clients belong to one loop).

    Redirects are never followed: a provider that redirects is misconfigured, and following
    a partner's redirect would let it steer our signed requests somewhere else.
    """
    loop = asyncio.get_running_loop()
    shared = _clients.get(loop)
    if shared is None or shared.is_closed:
        shared = httpx.AsyncClient(timeout=TIMEOUT, limits=LIMITS, follow_redirects=False)
        _clients[loop] = shared
    return shared


async def close() -> None:
    """Close the running loop's client (at shutdown)."""
    shared = _clients.pop(asyncio.get_running_loop(), None)
    if shared is not None:
        await shared.aclose()


# Off in production (reach.services): provider and partner URLs must then name public
# hosts, so a webhook or push endpoint cannot be aimed at services inside our network.
allow_private_hosts = True


def is_private(host: str) -> bool:
    """A literal address that is not publicly routable (loopback, RFC 1918, link-local)."""
    if host == "localhost" or host.endswith((".localhost", ".internal", ".local")):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return not address.is_global


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_problem(url: object, field: str) -> str | None:
    """Why `url` cannot be used for requests that carry secrets or personal data, if so.

    HTTPS is required; plain HTTP only to loopback (local test servers).
    """
    if not isinstance(url, str) or not url:
        return f"{field} is required (an https:// URL)"
    if len(url) > 2048:
        return f"{field} is longer than 2048 characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        return f"{field} is not a valid URL"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return f"{field} must be an https:// URL"
    if not allow_private_hosts and is_private(parts.hostname):
        return f"{field} must name a public host"
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return f"{field} must use https:// (plain http is allowed only to localhost)"
    if parts.username or parts.password:
        return f"{field} must not contain credentials"
    if any(c in url for c in "\r\n\t "):
        return f"{field} must not contain whitespace"
    return None


def retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def error_for(
    response: httpx.Response, provider: str, detail: str, code: str | None = None
) -> SendError:
    """Map a non-2xx answer: 408/429/5xx may pass (retry), other 4xx and 3xx will not."""
    status = response.status_code
    text = f"{provider} answered {status}: {detail}" if detail else f"{provider} answered {status}"
    if status == 429:
        return SendError(text, retry_after=retry_after(response), code=code or "429")
    if status == 408 or status >= 500:
        return SendError(text, retry_after=retry_after(response), code=code or str(status))
    if 300 <= status < 400:
        location = response.headers.get("location", "")
        return SendError(
            f"{provider} answered {status} redirect to {location[:200]!r} (not followed)",
            permanent=True,
            code=code or str(status),
        )
    return SendError(text, permanent=True, code=code or str(status))


# The request never left: trying again cannot deliver twice.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def transport_error(
    provider: str, error: httpx.HTTPError, *, idempotent: bool = False
) -> SendError:
    """Network trouble. Before the request left (refused, connect timeout) it is worth
    another try. After it left (read timeout, reset) the provider may have accepted the
    message: unless the provider deduplicates (`idempotent`: our Idempotency-Key), the
    send ends here rather than risk a duplicate."""
    kind = "timed out" if isinstance(error, httpx.TimeoutException) else "unreachable"
    text = f"{provider} {kind}: {type(error).__name__}: {error}"[:400]
    if idempotent or isinstance(error, NOT_SENT):
        return SendError(text)
    return SendError(
        f"{text}; outcome unknown (the provider may have accepted it), not retried so that "
        "it is never sent twice",
        permanent=True,
        code="OUTCOME_UNKNOWN",
    )


def short(text: str, limit: int = 300) -> str:
    """A provider's error text, trimmed for storing on the message row."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
