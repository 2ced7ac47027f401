"""Which destination addresses outbound requests may reach (pure: no I/O).

A host is read the way the resolver of the machine would read it, so a spelling the
checker does not understand cannot slip through: inet_aton's numeric forms (2130706433,
0x7f000001, 017700000001, 127.1), IPv6 with its embedded IPv4 (mapped, compatible, NAT64,
6to4), trailing dots and `localhost` names. Callers: channels.transport (URLs at config time
and every address a name resolves to at connect time) and channels.smtp.
"""

from __future__ import annotations

import ipaddress
import re

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Instance metadata services: a request there hands out cloud credentials.
METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean
        "169.254.170.2",  # AWS ECS task credentials
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
    )
)
SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix
NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215 local-use prefix
COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated IPv4-compatible (RFC 4291)
# Names that resolve to this machine or to an internal network by convention.
INTERNAL_SUFFIXES = (".localhost", ".internal", ".local", ".localdomain", ".home.arpa")
INTERNAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})

NUMERIC_PART = re.compile(r"^(0[xX][0-9a-fA-F]*|[0-9]+)$")


def _number(part: str) -> int | None:
    """One inet_aton part: 0x.. hexadecimal, 0.. octal, else decimal."""
    if not NUMERIC_PART.match(part):
        return None
    if part[:2] in ("0x", "0X"):
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part[0] == "0":
        return int(part, 8) if all(c in "01234567" for c in part) else None
    return int(part)


def parse_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """inet_aton's reading: a, a.b, a.b.c or a.b.c.d, each part decimal, octal or hex; the
    last part fills the remaining bytes (127.1 is 127.0.0.1, 2130706433 is too)."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers = [_number(p) for p in parts]
    if any(n is None for n in numbers):
        return None
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(parts)):  # type: ignore[operator]
        return None
    value = 0
    for n in leading:
        value = value << 8 | n  # type: ignore[operator]
    return ipaddress.IPv4Address(value << 8 * (5 - len(parts)) | last)  # type: ignore[operator]


def normalise(host: str) -> str:
    """Lower case, without URL brackets, an IPv6 zone or trailing dots (`localhost.` is
    `localhost` to the resolver)."""
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host.split("%", 1)[0] if ":" in host else host.rstrip(".")


def parse_address(host: str) -> Address | None:
    """The address a literal host names, in any form the resolver accepts; None for a name."""
    host = normalise(host)
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            return None
    return parse_ipv4(host)


def looks_numeric(host: str) -> bool:
    """A host whose last label is a number is meant as an address (WHATWG URL), so one that
    does not parse (09, 1.2.3.4.5, 256.1.1.1) is refused rather than looked up as a name."""
    host = normalise(host)
    return ":" in host or bool(NUMERIC_PART.match(host.rsplit(".", 1)[-1]))


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries and that traffic really goes to."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64 or address in NAT64_LOCAL or address in COMPATIBLE:
        if address in COMPATIBLE and int(address) <= 1:
            return None  # :: and ::1 are themselves
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_problem(address: Address) -> str | None:
    """What makes an address unfit as a destination ("a loopback address"), if anything."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None:
            found = address_problem(inner)
            if found or address.sixtofour is None:
                return found  # mapped, compatible and NAT64 go where the IPv4 one goes
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address in METADATA:
        return "a cloud metadata address"
    if address.is_link_local:
        return "a link-local address"
    if isinstance(address, ipaddress.IPv4Address) and address in SHARED:
        return "a shared (carrier-grade NAT) address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "a non-public address"
    return None


def host_problem(host: str) -> str | None:
    """What makes a host as written unfit ("a loopback address", "an internal name"); a
    public-looking name is fine here and its addresses are checked when it resolves."""
    name = normalise(host)
    if not name:
        return "an empty host"
    address = parse_address(name)
    if address is not None:
        return address_problem(address)
    if looks_numeric(name):
        return "not a valid address"
    if name in INTERNAL_NAMES or name.endswith(INTERNAL_SUFFIXES) or "." not in name:
        return "an internal name"
    return None


def is_loopback(host: str) -> bool:
    """localhost or a loopback address, in any spelling."""
    name = normalise(host)
    if name in INTERNAL_NAMES or name.endswith(".localhost"):
        return True
    address = parse_address(name)
    if isinstance(address, ipaddress.IPv6Address):
        address = embedded_ipv4(address) or address
    return address is not None and address.is_loopback
