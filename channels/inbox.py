"""In-app inbox: the message row the caller stores is the inbox entry; nothing leaves us."""

from __future__ import annotations

import uuid
from typing import Any

from channels import config as check
from channels.base import Outgoing, SendError, SendResult


class Inbox:
    name = "inbox"
    concurrency = 1000

    async def send(self, message: Outgoing) -> SendResult:
        if message.channel != "in_app":
            raise SendError(f"the inbox cannot send {message.channel}", permanent=True)
        return SendResult(self.name, f"inbox-{uuid.uuid4()}")


def problems(config: dict[str, Any]) -> list[str]:
    found: list[str] = []
    check.only(config, set(), found)
    return found


def from_config(config: dict[str, Any]) -> Inbox:
    check.fail("inbox", problems(config))
    return Inbox()
