"""Audit entries: who changed what in a workspace's account setup."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel

from documents.base import TenantDocument


class AuditEntry(TenantDocument):
    action: str
    actor_kind: str
    actor_id: str
    actor_label: str
    target_type: str
    target_id: str
    details: dict[str, Any] = {}

    class Settings:
        name = "audit_entries"
        indexes = [
            IndexModel([("workspace_id", ASCENDING), ("_id", DESCENDING)]),
            IndexModel([("workspace_id", ASCENDING), ("action", ASCENDING), ("_id", DESCENDING)]),
        ]
