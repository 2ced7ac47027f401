"""Shared HTTP transport of the providers: one client per event loop, URL checks, errors."""

from __future__ import annotations

import asyncio
import email.utils
import socket
import weakref
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpcore
import httpx

from channels import address_policy
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
        # trust_env off for the client: an environment proxy would be connected to instead
        # of the destination and so bypass the address check (the transport still honours
        # SSL_CERT_FILE / SSL_CERT_DIR).
        shared = httpx.AsyncClient(
            transport=vetting_transport(),
            timeout=TIMEOUT,
            follow_redirects=False,
            trust_env=False,
        )
        _clients[loop] = shared
    return shared


async def close() -> None:
    """Close the running loop's client (at shutdown)."""
    shared = _clients.pop(asyncio.get_running_loop(), None)
    if shared is not None:
        await shared.aclose()


# Off in production (reach.services): provider and partner URLs must then name public
# hosts, and every address a host resolves to must be public when we connect, so a webhook,
# push endpoint or SMTP server cannot be aimed at services inside our network.
allow_private_hosts = True


class DestinationRefused(httpx.ConnectError):
    """The destination is not one we may connect to (nothing was sent)."""


Resolver = Callable[[str, int], Awaitable[list[str]]]


async def getaddrinfo(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, in the resolver's order."""
    found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(sockaddr[0]) for *_, sockaddr in found))


async def vetted_addresses(
    host: str, port: int, resolve: Resolver = getaddrinfo, within: float | None = None
) -> list[str]:
    """The addresses to connect to for `host`, resolved once here so that the connection
    goes to an address that was checked (a second lookup could answer differently: DNS
    rebinding). In production any disallowed address refuses the whole host
    (DestinationRefused, naming the kind of address, not the address)."""
    strict = not allow_private_hosts
    if strict and (problem := address_policy.host_problem(host)):
        raise DestinationRefused(f"destination is {problem}")
    literal = address_policy.parse_address(host)
    if literal is not None:
        return [str(literal)]
    addresses = await asyncio.wait_for(resolve(address_policy.normalise(host), port), within)
    if not addresses:
        raise OSError("the destination host has no address")
    if strict:
        for address in addresses:
            parsed = address_policy.parse_address(address)
            problem = address_policy.address_problem(parsed) if parsed else "not an address"
            if problem:
                raise DestinationRefused(f"destination resolves to {problem}")
    return addresses


class VettingBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting to vetted addresses only. TLS and the Host
    header still use the URL's host: httpcore passes it as server_hostname to start_tls."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend, resolve: Resolver = getaddrinfo):
        self.inner = inner
        self.resolve = resolve

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await vetted_addresses(host, port, self.resolve, timeout)
        except TimeoutError:
            raise httpcore.ConnectTimeout("resolving the destination host timed out") from None
        except OSError as error:
            raise httpcore.ConnectError(f"cannot resolve the destination host: {error}") from None
        for index, address in enumerate(addresses):  # in order, as a resolver would
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout):
                if index == len(addresses) - 1:
                    raise
        raise AssertionError("unreachable")

    async def connect_unix_socket(self, *args, **kwargs) -> httpcore.AsyncNetworkStream:
        raise DestinationRefused("destination is a local socket")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def vetting_transport(resolve: Resolver = getaddrinfo) -> httpx.AsyncHTTPTransport:
    """httpx's transport with its connection pool's network backend wrapped: httpx has no
    parameter for the backend, so it is set on the pool it built (httpcore 1.x)."""
    http = httpx.AsyncHTTPTransport(limits=LIMITS)
    pool = http._pool
    assert isinstance(pool, httpcore.AsyncConnectionPool)
    pool._network_backend = VettingBackend(pool._network_backend, resolve)
    return http


def is_private(host: str) -> bool:
    """A host that is not publicly routable in any spelling (see channels.address_policy)."""
    return address_policy.host_problem(host) is not None


def is_loopback(host: str) -> bool:
    return address_policy.is_loopback(host)


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
    if isinstance(error, DestinationRefused):
        return SendError(f"{provider} refused: {error}", permanent=True, code="DESTINATION_REFUSED")
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
