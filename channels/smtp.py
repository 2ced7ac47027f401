"""Email over SMTP (aiosmtplib), configured by a URL: smtp[s]://user:pass@host:port."""

from __future__ import annotations

import email.message
import email.utils
from urllib.parse import unquote, urlsplit

import aiosmtplib

from channels.base import EmailMessage, SendError, SendResult


class SmtpEmail:
    name = "smtp"

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("SMTP URL must look like smtp://user:pass@host:port")
        self.host = parts.hostname
        self.port = parts.port or (465 if parts.scheme == "smtps" else 25)
        self.use_tls = parts.scheme == "smtps"
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.timeout = timeout

    async def send(self, message: EmailMessage) -> SendResult:
        mime = email.message.EmailMessage()
        message_id = email.utils.make_msgid(domain="reach.local")
        mime["Message-ID"] = message_id
        mime["From"] = message.sender
        mime["To"] = message.to
        mime["Subject"] = message.subject
        mime["Date"] = email.utils.formatdate(localtime=False)
        for name, value in message.headers.items():
            mime[name] = value
        mime.set_content(message.text)
        if message.html:
            mime.add_alternative(message.html, subtype="html")
        try:
            await aiosmtplib.send(
                mime,
                hostname=self.host,
                port=self.port,
                use_tls=self.use_tls,
                username=self.username,
                password=self.password,
                timeout=self.timeout,
                start_tls=None if not self.use_tls else False,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            raise SendError(f"recipient refused: {error}", permanent=True) from error
        except (aiosmtplib.SMTPException, OSError) as error:
            raise SendError(f"SMTP delivery failed: {error}") from error
        return SendResult(self.name, message_id)
