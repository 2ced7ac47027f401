"""CSV contact imports: the job (status, progress, per-row errors) and its uploaded file.

The file's text lives in its own small collection, one document per job, so that
status reads never load it, and it is deleted when the job ends (it holds personal
data). Files are at most 10 MB of UTF-8 (engine.csv_mapping.MAX_FILE_BYTES), within
MongoDB's 16 MB document limit, so no GridFS is needed.
"""

from __future__ import annotations

from datetime import datetime

from beanie import PydanticObjectId
from pydantic import BaseModel
from pymongo import ASCENDING, DESCENDING, IndexModel

from documents.base import TenantDocument


class ImportProblem(BaseModel):
    row: int  # as a spreadsheet numbers it: the header is row 1
    column: str | None = None
    reason: str


class ColumnMapping(BaseModel):
    """One imported column (a list, not a dict: headers may hold '.' or '$')."""

    column: str
    target: str


class ImportJob(TenantDocument):
    status: str = "queued"  # queued | running | completed | failed
    filename: str
    total_rows: int = 0
    processed_rows: int = 0
    accepted: int = 0
    rejected: int = 0
    errors: list[ImportProblem] = []  # rejected rows, capped
    errors_truncated: bool = False
    warnings: list[ImportProblem] = []  # imported rows with a value not applied, capped
    warnings_truncated: bool = False
    mapping: list[ColumnMapping] = []
    created_by: str
    attempts: int = 0
    failure_reason: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    class Settings:
        name = "import_jobs"
        indexes = [IndexModel([("workspace_id", ASCENDING), ("_id", DESCENDING)])]


class ImportFile(TenantDocument):
    job_id: PydanticObjectId
    content: str

    class Settings:
        name = "import_files"
        indexes = [IndexModel([("workspace_id", ASCENDING), ("job_id", ASCENDING)], unique=True)]
