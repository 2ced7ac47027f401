"""Sandbox provider: accepts every message and sends nothing (the caller keeps the record)."""

from __future__ import annotations

import uuid

from channels.base import EmailMessage, SendResult


class SandboxEmail:
    name = "sandbox"

    async def send(self, message: EmailMessage) -> SendResult:
        return SendResult(self.name, f"sandbox-{uuid.uuid4()}")
