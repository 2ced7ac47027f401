"""Sandbox provider: accepts every message on any channel and sends nothing.

The caller keeps the outbound row, which is the record of what would have been sent.
"""

from __future__ import annotations

import uuid
from typing import Any

from channels import config as check
from channels.base import Outgoing, SendResult


class Sandbox:
    name = "sandbox"
    concurrency = 1000  # no I/O: a whole batch at once

    async def send(self, message: Outgoing) -> SendResult:
        return SendResult(self.name, f"sandbox-{uuid.uuid4()}")


def problems(config: dict[str, Any]) -> list[str]:
    found: list[str] = []
    check.only(config, set(), found)
    return found


def from_config(config: dict[str, Any]) -> Sandbox:
    check.fail("sandbox", problems(config))
    return Sandbox()
