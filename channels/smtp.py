"""Email over SMTP (aiosmtplib), configured by a URL: smtp[s]://user:pass@host:port.

smtp:// upgrades with STARTTLS when the server offers it; smtps:// is TLS from the start.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.message
import email.policy
import email.utils
import re
import socket
from typing import Any
from urllib.parse import unquote, urlsplit

import aiosmtplib

from channels import config as check
from channels import smtp_pool, transport
from channels.base import Outgoing, SendError, SendResult

DEFAULT_SENDER = "Reach <no-reply@reach.local>"
# Headers the provider writes itself; a caller's copy would forge or break the message.
RESERVED_HEADERS = {
    "bcc",
    "cc",
    "content-transfer-encoding",
    "content-type",
    "date",
    "from",
    "message-id",
    "mime-version",
    "return-path",
    "sender",
    "subject",
    "to",
    "list-unsubscribe-post",  # derived from List-Unsubscribe (RFC 8058)
}
HEADER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,76}$")
ONE_CLICK = "List-Unsubscribe=One-Click"
# Bodies are encoded under the usual 78 columns (base64 lines stay within RFC 2045's 76) and
# as 7-bit (no reliance on 8BITMIME); headers are folded only past SMTP's 998, so a long
# signed unsubscribe URL stays literal instead of being RFC 2047-encoded (clients would not
# decode it in List-Unsubscribe).
CONTENT_POLICY = email.policy.SMTP.clone(cte_type="7bit")
HEADER_POLICY = email.policy.SMTP.clone(max_line_length=998)
MAX_HEADER = 900  # beyond this even the wide policy folds (and encodes) a header


def single_address(value: object) -> str | None:
    """The bare address of a one-mailbox header value ("Name <a@b>" or "a@b"), else None."""
    if not isinstance(value, str) or any(c in value for c in "\r\n\0"):
        return None
    found = email.utils.getaddresses([value], strict=True)
    if len(found) != 1:
        return None
    address = found[0][1]
    local, at, domain = address.rpartition("@")
    return address if at and local and "." in domain else None


class SmtpEmail:
    name = "smtp"
    concurrency = 5  # pooled sessions per server (channels.smtp_pool), so per batch too
    resolve: transport.Resolver = staticmethod(transport.getaddrinfo)  # tests alias names

    def __init__(self, url: str, sender: str = DEFAULT_SENDER, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("SMTP URL must look like smtp://user:pass@host:port")
        self.host = parts.hostname
        self.port = parts.port or (465 if parts.scheme == "smtps" else 25)
        self.use_tls = parts.scheme == "smtps"
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.sender = sender
        self.timeout = timeout

    async def _socket(self) -> socket.socket:
        """A socket connected to a vetted address of the server (transport.vetted_addresses:
        resolved once and checked, so a second lookup cannot rebind it)."""
        addresses = await transport.vetted_addresses(
            self.host, self.port, self.resolve, within=self.timeout
        )
        loop = asyncio.get_running_loop()
        for index, address in enumerate(addresses):
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                await asyncio.wait_for(loop.sock_connect(sock, (address, self.port)), self.timeout)
                return sock
            except (OSError, TimeoutError):
                sock.close()
                if index == len(addresses) - 1:
                    raise
        raise AssertionError("unreachable")

    async def _connect(self) -> aiosmtplib.SMTP:
        """A new session: connected, upgraded with STARTTLS when offered, logged in.

        In production the session runs over a socket to the vetted address; aiosmtplib still
        names the server by its host for TLS (server_hostname) and certificate checks."""
        place: dict[str, Any] = {"port": self.port}
        if not transport.allow_private_hosts:
            place = {"port": None, "sock": await self._socket()}
        client = aiosmtplib.SMTP(
            hostname=self.host,
            **place,
            use_tls=self.use_tls,
            username=self.username,
            password=self.password,
            timeout=self.timeout,
            start_tls=None if not self.use_tls else False,
        )
        try:
            await client.connect()
        except BaseException:
            if "sock" in place:
                with contextlib.suppress(OSError):
                    place["sock"].close()
            raise
        return client

    def compose(self, message: Outgoing) -> email.message.EmailMessage:
        """The MIME message: text, plus an HTML alternative when there is one."""
        sender = message.sender or self.sender
        from_address = single_address(sender)
        if from_address is None:
            raise SendError(f"sender {sender!r} is not one email address", permanent=True)
        if single_address(message.to) is None:
            raise SendError(f"recipient {message.to!r} is not one email address", permanent=True)
        if not message.text and not message.html:
            raise SendError("the email has neither text nor html", permanent=True)
        mime = email.message.EmailMessage(policy=CONTENT_POLICY)
        try:
            mime["Message-ID"] = email.utils.make_msgid(domain=from_address.rpartition("@")[2])
            mime["From"] = sender
            mime["To"] = message.to
            mime["Subject"] = message.subject
            mime["Date"] = email.utils.formatdate(localtime=False)
            for header, value in message.headers.items():
                if not HEADER_NAME.match(header) or header.lower() in RESERVED_HEADERS:
                    raise SendError(f"header {header!r} cannot be set", permanent=True)
                if not isinstance(value, str) or len(value) > MAX_HEADER:
                    raise SendError(f"header {header!r} is not text or too long", permanent=True)
                mime[header] = value
            # One-click unsubscribe (RFC 8058) needs an https link in List-Unsubscribe.
            unsubscribe = mime.get("List-Unsubscribe", "")
            if "<https://" in unsubscribe:
                mime["List-Unsubscribe-Post"] = ONE_CLICK
        except ValueError as error:  # a line break or NUL in a header value
            raise SendError(f"invalid email header: {error}", permanent=True) from error
        mime.set_content(message.text)
        if message.html:
            mime.add_alternative(message.html, subtype="html")
        return mime

    async def send(self, message: Outgoing) -> SendResult:
        mime = self.compose(message)
        # Flattened here, with the wide header policy: aiosmtplib would re-flatten a message
        # object with a 78-column policy that RFC 2047-encodes long URLs in headers.
        raw = mime.as_bytes(policy=HEADER_POLICY.clone(linesep="\r\n"))
        sessions = smtp_pool.pool(
            (self.host, self.port, self.use_tls, self.username, self.password), self.concurrency
        )
        try:
            async with sessions.session(self._connect) as client:
                await client.sendmail(
                    single_address(mime["From"]), [single_address(message.to)], raw
                )
        except transport.DestinationRefused as error:
            raise SendError(
                f"SMTP refused: {error}", permanent=True, code="DESTINATION_REFUSED"
            ) from error
        except aiosmtplib.SMTPRecipientsRefused as error:
            codes = [refused.code for refused in error.recipients]
            # 4xx (greylisting, mailbox busy) may pass later; 5xx will not.
            permanent = bool(codes) and all(code >= 500 for code in codes)
            raise SendError(
                f"recipient refused: {error}", permanent=permanent, code=str(codes[0])
            ) from error
        except aiosmtplib.SMTPResponseException as error:
            # 5xx is final (auth refused, message rejected); 4xx is a temporary condition.
            raise SendError(
                f"SMTP delivery failed: {error.code} {error.message}",
                permanent=error.code >= 500,
                code=str(error.code),
            ) from error
        except (aiosmtplib.SMTPException, OSError) as error:
            raise SendError(f"SMTP delivery failed: {error}") from error
        return SendResult(self.name, mime["Message-ID"])


def url_has_password(url: object) -> bool:
    try:
        return isinstance(url, str) and bool(urlsplit(url).password)
    except ValueError:
        return False


def problems(config: dict[str, Any]) -> list[str]:
    found: list[str] = []
    check.only(config, {"url", "from"}, found)
    url = check.text(config, "url", found, max_length=2048)
    if url:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 (raises ValueError on a bad port)
        except ValueError:
            found.append("url has an invalid port")
        else:
            if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
                found.append("url must look like smtp://user:pass@host:port (or smtps://)")
            elif not transport.allow_private_hosts and transport.is_private(parts.hostname):
                found.append("url must name a public host")
    sender = check.text(config, "from", found)
    if sender and single_address(sender) is None:
        found.append('from must be one address, like "Brand <news@brand.com>"')
    return found


def from_config(config: dict[str, Any]) -> SmtpEmail:
    check.fail("smtp", problems(config))
    return SmtpEmail(config["url"], sender=config["from"])
