"""CSV contact files: parse, map columns to identify messages, and write exports.

Pure: text in, messages and row errors out. The resolvers store, ingest and report.

Rows are numbered as a spreadsheet shows them: the header is row 1, the first data
row is row 2, and a record with a quoted line break is still one row. Blank rows are
skipped (they keep their number, so later numbers still match the spreadsheet).

A mapping is {column header -> target}; a target is one of `user_id`, `email`,
`phone`, `anonymous_id`, `tags` (comma-separated), `ignore`, or `properties.<key>`.
With a mapping, columns it does not name are ignored. Without one, columns map by
header name (`column_target`): identifier names to identifiers, `tags` to tags, the
system columns of an export (id, anonymous_ids, created_at, last_active_at) to
`ignore`, anything else to `properties.<header in snake_case>`.

A row is imported whole or not at all: an invalid email, phone, tag or custom-field
value rejects the row with one error per bad cell (ingestion may still decline to
move an identifier that belongs to another user; that is reported as a warning).
An empty cell leaves the stored value unchanged. A cell an export escaped against
formula injection ('=...) is unescaped, so exports import again unchanged.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from engine.errors import InvalidInput
from engine.identifiers import normalize_email, normalize_id, normalize_phone
from engine.messages import MAX_MESSAGE_BYTES, message_size
from engine.traits import (
    STANDARD_PROPERTIES,
    STANDARD_TYPES,
    TRAIT_ALIASES,
    FieldDef,
    check_key,
    coerce,
)

MAX_FILE_BYTES = 10 * 1024 * 1024  # kept in one MongoDB document until imported (16 MB max)
MAX_ROWS = 100_000
MAX_COLUMNS = 200
MAX_HEADER_CHARS = 200
MAX_LINE_CHARS = 65_536  # one physical line
MAX_CELL_CHARS = 4_096
MAX_TAGS_PER_ROW = 100
MAX_TAG_CHARS = 64

IDENTIFIER_TARGETS = ("user_id", "email", "phone", "anonymous_id")
TARGETS = (*IDENTIFIER_TARGETS, "tags", "ignore")
PROPERTY_PREFIX = "properties."
# Trait names ingestion treats as identifiers (or unpacks), so never properties.
RESERVED_PROPERTY_KEYS = frozenset({"email", "phone", "userId", "user_id", "id", "address"})

# Header names (lower-cased, letters and digits only) with a known meaning.
_KNOWN_HEADERS = {
    "userid": "user_id",
    "email": "email",
    "emailaddress": "email",
    "phone": "phone",
    "phonenumber": "phone",
    "mobile": "phone",
    "anonymousid": "anonymous_id",
    "tags": "tags",
    "tag": "tags",
    # System columns of an export: Reach's own id and timestamps are not imported.
    "id": "ignore",
    "anonymousids": "ignore",
    "createdat": "ignore",
    "lastactiveat": "ignore",
}

# Cells a spreadsheet would evaluate (CSV/formula injection, OWASP).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")

EXPORT_COLUMNS = (
    "id",
    "user_id",
    "email",
    "phone",
    "anonymous_ids",
    "tags",
    "created_at",
    "last_active_at",
)


class FileTooLarge(InvalidInput):
    code = "TOO_LARGE"


@dataclass(frozen=True)
class RowError:
    row: int
    column: str | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "reason": self.reason}


@dataclass(frozen=True)
class CsvTable:
    header: tuple[str, ...]
    rows: list[tuple[int, list[str]]]  # (row number, cells), blank rows left out

    @property
    def total_rows(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class Column:
    index: int
    name: str
    target: str


@dataclass(frozen=True)
class ColumnPlan:
    width: int  # columns in the header: every row must have exactly this many cells
    columns: tuple[Column, ...]  # the imported ones (no "ignore")

    def mapping(self) -> dict[str, str]:
        """{column -> target} of the imported columns: plans the same file the same way."""
        return {c.name: c.target for c in self.columns}

    def column_for(self, target: str | None) -> str | None:
        """The column feeding a target (e.g. an ingest warning's field), if any."""
        if target is None:
            return None
        wanted = {"userId": "user_id", "anonymousId": "anonymous_id"}.get(target, target)
        for column in self.columns:
            key = column.target.removeprefix(PROPERTY_PREFIX)
            if wanted in (column.target, key, f"traits.{key}"):
                return column.name
        return None


@dataclass
class ImportRow:
    row: int
    message: dict[str, Any]  # a Segment identify message
    tags: list[str] = field(default_factory=list)


@dataclass
class MappedRows:
    rows: list[ImportRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rejected: int = 0  # rows left out (a row may have several errors)


# --- files ------------------------------------------------------------------------------


def check_size(size: int) -> None:
    if size > MAX_FILE_BYTES:
        raise FileTooLarge(
            f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; split it.",
            field="csv",
        )


def decode(data: bytes) -> str:
    """Bytes of an upload to text: UTF-8, with or without a byte-order mark."""
    check_size(len(data))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidInput(
            f"The file is not UTF-8 text (invalid byte at offset {error.start}); "
            "save it as CSV UTF-8.",
            field="csv",
        ) from error


def _lines(text: str) -> Iterator[str]:
    for number, line in enumerate(io.StringIO(text, newline=""), start=1):
        if len(line) > MAX_LINE_CHARS:
            raise InvalidInput(
                f"Line {number} is longer than {MAX_LINE_CHARS} characters.", field="csv"
            )
        yield line


def _blank(cells: list[str]) -> bool:
    return all(not cell.strip() for cell in cells)


def parse(text: str, *, max_rows: int = MAX_ROWS) -> CsvTable:
    """Split CSV text into a header and data rows; raise InvalidInput for a bad file."""
    try:
        check_size(len(text.encode("utf-8")))
    except UnicodeEncodeError as error:
        raise InvalidInput("The file is not valid Unicode text.", field="csv") from error
    if "\x00" in text:
        raise InvalidInput("The file is binary, not CSV text.", field="csv")
    text = text.removeprefix("\ufeff")
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    number = 0  # records read so far: the next one is row number + 1
    try:
        for record in csv.reader(_lines(text), strict=True):
            number += 1
            if _blank(record):
                continue
            if header is None:
                header = record
            elif len(rows) >= max_rows:
                raise InvalidInput(
                    f"The file has more than {max_rows} rows; split it.", field="csv"
                )
            else:
                rows.append((number, record))
    except csv.Error as error:
        raise InvalidInput(f"Row {number + 1} is not valid CSV: {error}.", field="csv") from error
    if header is None:
        raise InvalidInput("The file is empty.", field="csv")
    names = tuple(cell.strip() for cell in header)
    _check_header(names)
    if not rows:
        raise InvalidInput("The file has a header row but no data rows.", field="csv")
    return CsvTable(names, rows)


def _check_header(names: tuple[str, ...]) -> None:
    if len(names) > MAX_COLUMNS:
        raise InvalidInput(f"The file has more than {MAX_COLUMNS} columns.", field="csv")
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if len(name) > MAX_HEADER_CHARS:
            raise InvalidInput(
                f"Column {position}'s header is longer than {MAX_HEADER_CHARS} characters.",
                field="csv",
            )
        if name and name in seen:
            raise InvalidInput(
                f"Duplicate column {name[:60]!r} (columns {seen[name]} and {position}).",
                field="csv",
            )
        seen[name] = position


# --- mapping ----------------------------------------------------------------------------


def snake_case(name: str) -> str:
    """'First Name' / 'firstName' / 'first-name' -> 'first_name' (ASCII, <= 64 chars)."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    text = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()
    if text[:1].isdigit():
        text = f"_{text}"
    return text[:64]


def check_target(target: Any, column: str) -> str:
    """A mapping target, normalised (`properties.firstName` -> `properties.first_name`)."""
    field_name = f"mapping.{column}"
    if not isinstance(target, str):
        raise InvalidInput(f"The target of column {column[:60]!r} must be a string.", field_name)
    value = target.strip()
    if value in TARGETS:
        return value
    if value.startswith(PROPERTY_PREFIX):
        key = check_key(value.removeprefix(PROPERTY_PREFIX), field_name)
        key = TRAIT_ALIASES.get(key, key)
        if key in RESERVED_PROPERTY_KEYS:
            raise InvalidInput(
                f"{key!r} cannot be a property; map the column to an identifier target.",
                field=field_name,
            )
        return PROPERTY_PREFIX + key
    raise InvalidInput(
        f"Unknown target {value[:60]!r} for column {column[:60]!r}: use "
        f"{', '.join(TARGETS)} or properties.<key>.",
        field=field_name,
    )


def validate_mapping(mapping: Any) -> dict[str, str] | None:
    """Check a caller's mapping before any file is read; None means map by header."""
    if mapping is None:
        return None
    if not isinstance(mapping, dict):
        raise InvalidInput("The mapping must be an object {column: target}.", field="mapping")
    if len(mapping) > MAX_COLUMNS:
        raise InvalidInput(f"The mapping may name at most {MAX_COLUMNS} columns.", "mapping")
    out: dict[str, str] = {}
    for column, target in mapping.items():
        if not isinstance(column, str) or len(column) > MAX_HEADER_CHARS:
            raise InvalidInput("Mapping keys must be column headers.", field="mapping")
        out[column.strip()] = check_target(target, column.strip())
    return out


def column_target(header: str) -> str:
    """The target a header maps to when no mapping is given."""
    if not header:
        return "ignore"
    compact = re.sub(r"[^a-z0-9]", "", header.lower())
    if compact in _KNOWN_HEADERS:
        return _KNOWN_HEADERS[compact]
    if header.startswith(PROPERTY_PREFIX):  # an export's column for a clashing key
        key = header.removeprefix(PROPERTY_PREFIX)
        if TRAIT_ALIASES.get(key, key) in RESERVED_PROPERTY_KEYS:
            return "ignore"  # e.g. properties.id: ingestion cannot set it as a property
        return check_target(header, header)
    key = snake_case(header)
    if not key:
        raise InvalidInput(
            f"Column {header[:60]!r} has no usable property name; map it explicitly "
            "(or to 'ignore').",
            field="mapping",
        )
    return check_target(PROPERTY_PREFIX + key, header)


def plan_columns(header: Sequence[str], mapping: Mapping[str, str] | None) -> ColumnPlan:
    """Which column feeds which target; raise InvalidInput when the plan is unusable."""
    positions: dict[str, int] = {}
    for index, name in enumerate(header):
        positions.setdefault(name, index)
    if mapping is None:
        targets = {index: column_target(name) for index, name in enumerate(header)}
    else:
        targets = {}
        for name, target in mapping.items():
            if name not in positions:
                raise InvalidInput(
                    f"Column {name[:60]!r} named in the mapping is not in the file's header.",
                    field=f"mapping.{name}",
                )
            if header.count(name) > 1:
                raise InvalidInput(f"Column {name[:60]!r} appears twice.", field="mapping")
            targets[positions[name]] = check_target(target, name)
    columns = tuple(
        Column(index, header[index], target)
        for index, target in sorted(targets.items())
        if target != "ignore"
    )
    claimed: dict[str, str] = {}
    for column in columns:
        if column.target == "tags":
            continue  # several tag columns add up
        if column.target in claimed:
            raise InvalidInput(
                f"Columns {claimed[column.target][:60]!r} and {column.name[:60]!r} both map "
                f"to {column.target}.",
                field="mapping",
            )
        claimed[column.target] = column.name
    if not any(c.target in IDENTIFIER_TARGETS for c in columns):
        raise InvalidInput(
            "No column maps to an identifier: map one to user_id, email, phone or anonymous_id.",
            field="mapping",
        )
    return ColumnPlan(len(header), columns)


# --- rows -------------------------------------------------------------------------------


def message_id(job_id: str, row: int) -> str:
    """Deterministic: a retried import stores each row's event once."""
    return f"csv-import-{job_id}-{row}"


def _unescape(value: str) -> str:
    """Undo an export's formula escaping ('=x -> =x) so files round-trip."""
    if len(value) > 1 and value[0] == "'" and value[1] in FORMULA_PREFIXES:
        return value[1:]
    return value


def _tags(value: str, column: str) -> list[str]:
    """Comma-separated tags, cleaned as tagContact cleans them."""
    tags = []
    for part in value.split(","):
        tag = unicodedata.normalize("NFC", part).strip()
        if not tag:
            continue
        if len(tag) > MAX_TAG_CHARS:
            raise InvalidInput(f"Tag {tag[:20]!r}... is longer than {MAX_TAG_CHARS}.", column)
        if _CONTROL.search(tag):
            raise InvalidInput("Tags must not contain control characters.", field=column)
        tags.append(tag)
    return tags


def _map_row(
    number: int,
    cells: list[str],
    plan: ColumnPlan,
    job_id: str,
    fields: Mapping[str, FieldDef],
    region: str | None,
) -> ImportRow | list[RowError]:
    if len(cells) != plan.width:
        return [
            RowError(number, None, f"The row has {len(cells)} cells; the header has {plan.width}.")
        ]
    errors: list[RowError] = []
    message: dict[str, Any] = {"type": "identify", "messageId": message_id(job_id, number)}
    traits: dict[str, Any] = {}
    tags: list[str] = []
    for column in plan.columns:
        value = _unescape(cells[column.index].strip())
        if not value:
            continue
        if len(value) > MAX_CELL_CHARS:
            errors.append(
                RowError(number, column.name, f"The value is longer than {MAX_CELL_CHARS}.")
            )
            continue
        try:
            target = column.target
            if target == "user_id":
                message["userId"] = normalize_id(value, column.name)
            elif target == "anonymous_id":
                message["anonymousId"] = normalize_id(value, column.name)
            elif target == "email":
                traits["email"] = normalize_email(value)
            elif target == "phone":
                traits["phone"] = normalize_phone(value, region)
            elif target == "tags":
                tags.extend(t for t in _tags(value, column.name) if t not in tags)
            else:
                key = target.removeprefix(PROPERTY_PREFIX)
                declared = fields.get(key)
                kind = declared.type if declared else STANDARD_TYPES.get(key)
                if kind:
                    coerce(value, kind, column.name)  # ingestion coerces; reject here
                traits[key] = value
        except InvalidInput as error:
            errors.append(RowError(number, column.name, error.message))
    if len(tags) > MAX_TAGS_PER_ROW:
        errors.append(RowError(number, None, f"At most {MAX_TAGS_PER_ROW} tags per contact."))
    if errors:
        return errors
    if not (message.keys() & {"userId", "anonymousId"} or traits.keys() & {"email", "phone"}):
        return [
            RowError(
                number,
                None,
                "No identifier: the row needs a user id, email, phone or anonymous id.",
            )
        ]
    message["traits"] = traits
    message["context"] = {"importId": job_id, "importRow": number}
    if message_size(message) > MAX_MESSAGE_BYTES:
        return [RowError(number, None, f"The row is larger than {MAX_MESSAGE_BYTES // 1024} KB.")]
    return ImportRow(number, message, tags)


def map_rows(
    rows: Sequence[tuple[int, list[str]]],
    plan: ColumnPlan,
    *,
    job_id: str,
    fields: Mapping[str, FieldDef] | None = None,
    region: str | None = None,
) -> MappedRows:
    """Each valid row as an identify message; each invalid one as its errors."""
    out = MappedRows()
    for number, cells in rows:
        mapped = _map_row(number, cells, plan, job_id, fields or {}, region)
        if isinstance(mapped, ImportRow):
            out.rows.append(mapped)
        else:
            out.errors.extend(mapped)
            out.rejected += 1
    return out


# --- export -----------------------------------------------------------------------------


def escape_formula(text: str) -> str:
    """Prefix a cell a spreadsheet would run as a formula with '. Plain numbers such as
    -5 or an E.164 phone (+14155550100) cannot call anything and stay as they are."""
    if text.startswith(FORMULA_PREFIXES) and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return text


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple | set):
        return ",".join(_text(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def cell(value: Any) -> str:
    """A stored value as one export cell (lists comma-joined, objects as JSON)."""
    return escape_formula(_text(value))


def order_property_keys(keys: Sequence[str]) -> list[str]:
    """Standard properties first (in their usual order), then the rest alphabetically."""
    standard = [key for key in STANDARD_PROPERTIES if key in keys]
    return standard + sorted(set(keys) - set(standard))


def export_header(property_keys: Sequence[str]) -> list[str]:
    """A property named like a system column gets a `properties.` prefix."""
    return [
        *EXPORT_COLUMNS,
        *(f"{PROPERTY_PREFIX}{key}" if key in EXPORT_COLUMNS else key for key in property_keys),
    ]


def export_row(contact: Mapping[str, Any], property_keys: Sequence[str]) -> list[str]:
    """One contact document as cells in export_header's order."""
    props = contact.get("properties") or {}
    values = [
        contact.get("_id", contact.get("id")),
        *(contact.get(column) for column in EXPORT_COLUMNS[1:]),
        *(props.get(key) for key in property_keys),
    ]
    return [cell(value) for value in values]


def to_csv(rows: Sequence[Sequence[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()
