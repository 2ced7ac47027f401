"""Outbound destinations: the address parser, and the connect-time check in production
(every address a host resolves to is vetted, and the connection goes to a vetted one)."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from channels import address_policy, transport
from channels.base import Outgoing, SendError
from channels.smtp import SmtpEmail
from tests.provider_server import ProviderServer
from tests.smtp_server import smtp_server

LOOPBACK_FORMS = [
    "127.0.0.1",
    "2130706433",
    "0x7f000001",
    "0X7F000001",
    "017700000001",
    "0177.0.0.1",
    "0x7f.0.0.1",
    "127.1",
    "127.0.1",
    "127.0.0.1.",
    "[::1]",
    "::ffff:127.0.0.1",
    "::ffff:7f00:1",
    "::127.0.0.1",
    "64:ff9b::7f00:1",
    "2002:7f00:1::",
]


@pytest.mark.parametrize("host", LOOPBACK_FORMS)
def test_every_spelling_of_loopback_is_read_as_loopback(host):
    assert address_policy.host_problem(host) == "a loopback address"
    assert address_policy.is_loopback(host)


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("192.168.1", "192.168.0.1"),
        ("0", "0.0.0.0"),
        ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
        ("134744072", "8.8.8.8"),
        ("[fe80::1%25eth0]", "fe80::1"),
        ("hooks.example.com", None),
        ("1.2.3.4.5", None),
        ("08.1.1.1", None),
    ],
)
def test_parse_address_reads_like_inet_aton(host, address):
    parsed = address_policy.parse_address(host)
    assert parsed == (ipaddress.ip_address(address) if address else None)


@pytest.mark.parametrize(
    ("host", "problem"),
    [
        ("0", "an unspecified address"),
        ("0.0.0.0", "an unspecified address"),
        ("::", "an unspecified address"),
        ("169.254.169.254", "a cloud metadata address"),
        ("169.254.170.2", "a cloud metadata address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("100.100.100.200", "a cloud metadata address"),
        ("::ffff:169.254.169.254", "a cloud metadata address"),
        ("169.254.1.1", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("100.64.0.1", "a shared (carrier-grade NAT) address"),
        ("224.0.0.1", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        ("10.1.2.3", "a private address"),
        ("172.16.0.1", "a private address"),
        ("192.168.0.1", "a private address"),
        ("fc00::1", "a private address"),
        ("64:ff9b::a00:1", "a private address"),
        ("256.1.1.1", "not a valid address"),
        ("1.2.3.4.5", "not a valid address"),
        ("08.1.1.1", "not a valid address"),
        ("localhost", "an internal name"),
        ("localhost.", "an internal name"),
        ("LOCALHOST..", "an internal name"),
        ("api.localhost", "an internal name"),
        ("db.internal", "an internal name"),
        ("printer.local", "an internal name"),
        ("redis", "an internal name"),
        ("", "an empty host"),
    ],
)
def test_disallowed_hosts_name_the_kind_of_address(host, problem):
    assert address_policy.host_problem(host) == problem


@pytest.mark.parametrize(
    "host",
    [
        "hooks.example.com",
        "8.8.8.8",
        "134744072",
        "2606:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
    ],
)
def test_public_hosts_pass(host):
    assert address_policy.host_problem(host) is None


@pytest.mark.parametrize(
    "url",
    [
        "https://2130706433/hook",
        "https://0x7f000001/hook",
        "https://017700000001/hook",
        "https://127.1/hook",
        "https://0/hook",
        "https://localhost./hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://100.64.0.1/hook",
    ],
)
def test_config_time_check_uses_the_same_parser(url, monkeypatch):
    monkeypatch.setattr(transport, "allow_private_hosts", False)
    assert transport.url_problem(url, "url") == "url must name a public host"


def alias(name: str):
    """A resolver that answers for `name` what the system resolver says for localhost (a
    public-looking name that resolves to loopback, as a rebinding DNS server would)."""
    calls: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return await transport.getaddrinfo("localhost" if host == name else host, port)

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


async def test_system_resolver_answers_every_address_of_localhost():
    addresses = await transport.getaddrinfo("localhost", 80)
    assert "127.0.0.1" in addresses
    assert all(address_policy.is_loopback(a) for a in addresses)


async def test_production_refuses_a_name_that_resolves_to_loopback(monkeypatch):
    monkeypatch.setattr(transport, "allow_private_hosts", False)
    resolve = alias("hooks.example.com")
    with pytest.raises(transport.DestinationRefused) as refused:
        await transport.vetted_addresses("hooks.example.com", 443, resolve)
    assert str(refused.value) == "destination resolves to a loopback address"
    assert "127.0.0.1" not in str(refused.value)
    with pytest.raises(transport.DestinationRefused, match="destination is a loopback address"):
        await transport.vetted_addresses("0x7f000001", 443, resolve)
    with pytest.raises(transport.DestinationRefused, match="destination is an internal name"):
        await transport.vetted_addresses("localhost", 443, resolve)
    assert resolve.calls == ["hooks.example.com"]


async def test_production_refuses_when_any_address_is_private(monkeypatch):
    monkeypatch.setattr(transport, "allow_private_hosts", False)

    async def mixed(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "169.254.169.254"]

    with pytest.raises(
        transport.DestinationRefused, match=r"^destination resolves to a cloud metadata address$"
    ):
        await transport.vetted_addresses("hooks.example.com", 443, mixed)
    monkeypatch.setattr(transport, "allow_private_hosts", True)
    assert await transport.vetted_addresses("hooks.example.com", 443, mixed) == [
        "93.184.216.34",
        "169.254.169.254",
    ]


async def test_http_connects_to_the_vetted_address_keeping_the_host_header(
    provider_server: ProviderServer,
):
    """The name is resolved once by our resolver and the connection goes to that answer:
    `hooks.example.com` has no DNS here, so the request can only arrive through the pin."""
    port = httpx.URL(provider_server.url).port
    resolve = alias("hooks.example.com")
    async with httpx.AsyncClient(transport=transport.vetting_transport(resolve)) as client:
        response = await client.get(f"http://hooks.example.com:{port}/healthz")
    assert response.request.headers["host"] == f"hooks.example.com:{port}"
    assert resolve.calls == ["hooks.example.com"]
    assert response.status_code < 500


async def test_production_http_refuses_at_connect_time(
    provider_server: ProviderServer, monkeypatch
):
    port = httpx.URL(provider_server.url).port
    resolve = alias("hooks.example.com")
    monkeypatch.setattr(transport, "allow_private_hosts", False)
    async with httpx.AsyncClient(transport=transport.vetting_transport(resolve)) as client:
        for url in (
            f"http://hooks.example.com:{port}/x",
            f"http://127.0.0.1:{port}/x",
            f"http://2130706433:{port}/x",
            f"http://localhost:{port}/x",
        ):
            with pytest.raises(transport.DestinationRefused) as refused:
                await client.get(url)
            error = transport.transport_error("webhook", refused.value)
            assert error.permanent and error.code == "DESTINATION_REFUSED"
            assert error.args[0].startswith("webhook refused: destination ")


async def test_the_shared_client_checks_at_connect_time(
    provider_server: ProviderServer, monkeypatch
):
    port = httpx.URL(provider_server.url).port
    monkeypatch.setattr(transport, "allow_private_hosts", False)
    # 127.0.0.2: an origin no earlier test left a pooled keep-alive connection to (a
    # pooled connection was vetted when it was opened, and is not opened again).
    with pytest.raises(transport.DestinationRefused, match="destination is a loopback address"):
        await transport.client().get(f"http://127.0.0.2:{port}/x")
    monkeypatch.setattr(transport, "allow_private_hosts", True)
    response = await transport.client().get(f"http://127.0.0.1:{port}/x")
    assert response.status_code < 500


def mail() -> Outgoing:
    return Outgoing(
        channel="email",
        to="ada@example.com",
        subject="Hi",
        text="Hello",
        sender="news@brand.example",
    )


async def test_smtp_connects_to_the_vetted_address_and_refuses_loopback_in_production(
    monkeypatch,
):
    with smtp_server() as (inbox, url):
        port = httpx.URL(url.replace("smtp://", "http://")).port
        provider = SmtpEmail(f"smtp://mail.example.com:{port}")
        provider.resolve = alias("mail.example.com")
        # Production: resolved, vetted, refused before any byte is sent.
        monkeypatch.setattr(transport, "allow_private_hosts", False)
        with pytest.raises(SendError) as refused:
            await provider.send(mail())
        assert refused.value.permanent and refused.value.code == "DESTINATION_REFUSED"
        assert str(refused.value).startswith(
            "SMTP refused: destination resolves to a loopback address"
        )
        literal = SmtpEmail(f"smtp://0x7f000001:{port}")
        with pytest.raises(SendError, match="destination is a loopback address"):
            await literal.send(mail())
        assert inbox.messages == []
        # Outside production loopback stays allowed (local test servers).
        monkeypatch.setattr(transport, "allow_private_hosts", True)
        await SmtpEmail(url).send(mail())
        assert len(inbox.messages) == 1


async def test_smtp_session_runs_over_the_pinned_socket(monkeypatch):
    """In production mode with a resolver answering a public address for the name, the
    session goes to that address: vetted_addresses is the only lookup."""
    with smtp_server() as (inbox, url):
        port = httpx.URL(url.replace("smtp://", "http://")).port
        monkeypatch.setattr(transport, "allow_private_hosts", False)
        monkeypatch.setattr(address_policy, "address_problem", lambda address: None)
        provider = SmtpEmail(f"smtp://mail.example.com:{port}")
        provider.resolve = alias("mail.example.com")
        await provider.send(mail())
        assert len(inbox.messages) == 1
        assert provider.resolve.calls == ["mail.example.com"]


def test_smtp_config_refuses_private_hosts_in_production(monkeypatch):
    from channels import smtp

    config = {"url": "smtp://2130706433:25", "from": "news@brand.example"}
    assert smtp.problems(config) == []
    monkeypatch.setattr(transport, "allow_private_hosts", False)
    assert smtp.problems(config) == ["url must name a public host"]
    assert smtp.problems({**config, "url": "smtp://mail.example.com:25"}) == []
