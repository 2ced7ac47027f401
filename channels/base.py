"""The provider interface every channel implements: one message shape, one send call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Outgoing:
    """One rendered message for one address. Each channel reads the fields it needs:

    email: subject, text, html, sender, headers; sms/whatsapp/rcs: text (body as a fallback);
    push/web_push: title, body, url, data; webhook: body (JSON text) or a default payload.
    """

    channel: str
    to: str | dict[str, Any]  # email, E.164 phone, device token, push subscription, contact id
    subject: str = ""
    text: str = ""
    html: str = ""
    title: str = ""
    body: str = ""
    url: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    sender: str = ""  # empty: the provider's configured sender
    idempotency_key: str = ""
    status_callback: str = ""  # where the provider reports delivery (Twilio-style)


@dataclass(frozen=True)
class SendResult:
    provider: str
    provider_message_id: str


class SendError(Exception):
    """The provider refused or failed.

    `permanent` tells retries to stop (bad address, token gone, credentials refused);
    `retry_after` is the provider's requested wait in seconds (HTTP 429), if it gave one;
    `code` is the provider's own error code when there is one (Twilio 21211, UNREGISTERED).
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
        self.code = code


# Calls one delivery batch makes to a network provider at once (per worker thread), unless
# the provider says otherwise: enough to hide the provider's latency, few enough to stay
# within the concurrency a provider account allows (Twilio, FCM answer 429 beyond theirs).
DEFAULT_CONCURRENCY = 10


class Provider(Protocol):
    name: str
    concurrency: int  # calls in flight per delivery batch (messaging.deliver sends waves)

    async def send(self, message: Outgoing) -> SendResult: ...
