"""CSV files to identify messages, and contacts to CSV (engine.csv_mapping)."""

from __future__ import annotations

import csv
import io
import os
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import csv_mapping as m
from engine.errors import InvalidInput
from engine.traits import FieldDef

FAST = settings(max_examples=150, deadline=None)


def invalid(func, *args, **kwargs) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        func(*args, **kwargs)
    return caught.value


def mapped(text: str, mapping=None, fields=None, region=None) -> m.MappedRows:
    table = m.parse(text)
    plan = m.plan_columns(table.header, m.validate_mapping(mapping))
    return m.map_rows(table.rows, plan, job_id="job1", fields=fields, region=region)


# --- parsing ----------------------------------------------------------------------------


def test_bom_crlf_quotes_and_embedded_newlines():
    text = (
        '\ufeffemail,"Full, Name",notes\r\na@example.com,"Ann ""A"" Lee","line one\r\nline two"\r\n'
    )
    table = m.parse(text)
    assert table.header == ("email", "Full, Name", "notes")
    assert table.rows == [(2, ["a@example.com", 'Ann "A" Lee', "line one\r\nline two"])]


def test_rows_are_numbered_as_a_spreadsheet_shows_them():
    text = 'email,notes\n\na@x.co,"two\nlines"\n,\nb@x.co,\n'
    table = m.parse(text)
    # header 1, blank 2 (skipped), a@ 3 (one row despite its line break), blank 4, b@ 5
    assert [number for number, _ in table.rows] == [3, 5]
    assert table.total_rows == 2


def test_decode_accepts_utf8_with_bom_and_rejects_other_bytes():
    assert m.decode("\ufeffemail\nä@x.co\n".encode()) == "email\nä@x.co\n"
    error = invalid(m.decode, "email\nzoë@x.co\n".encode("latin-1"))
    assert "not UTF-8" in error.message and error.field == "csv"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("\r\n  \r\n,,\r\n", "empty"),
        ("email,name\r\n", "no data rows"),
        ("email,email\na@x.co,b@x.co\n", "Duplicate column 'email'"),
        ('email\n"unterminated\n', "Row 2 is not valid CSV"),
        ('email\n"a@x.co"x\n', "Row 2 is not valid CSV"),
        ("email\x00\na\n", "binary"),
        ("email\n" + "x" * (m.MAX_LINE_CHARS + 1) + "\n", "Line 2 is longer"),
        (",".join(f"c{i}" for i in range(m.MAX_COLUMNS + 1)) + "\n1\n", "more than 200 columns"),
        ("e" * (m.MAX_HEADER_CHARS + 1) + "\n1\n", "header is longer"),
    ],
)
def test_bad_files_are_whole_file_errors(text, reason):
    error = invalid(m.parse, text)
    assert reason in error.message
    assert error.field == "csv"


def test_binary_garbage_never_crashes():
    garbage = os.urandom(4096)
    with pytest.raises(InvalidInput):
        m.parse(m.decode(garbage))


@FAST
@given(st.binary(max_size=300))
def test_any_bytes_either_parse_or_fail_cleanly(data):
    try:
        table = m.parse(m.decode(data))
        plan = m.plan_columns(table.header, None)
        m.map_rows(table.rows, plan, job_id="j")
    except InvalidInput:
        pass


def test_row_limit_is_configurable():
    text = "email\n" + "".join(f"u{i}@x.co\n" for i in range(5))
    assert m.parse(text, max_rows=5).total_rows == 5
    assert "more than 4 rows" in invalid(m.parse, text, max_rows=4).message


def test_size_limit():
    error = invalid(m.check_size, m.MAX_FILE_BYTES + 1)
    assert isinstance(error, m.FileTooLarge) and error.code == "TOO_LARGE"
    assert invalid(m.decode, b"x" * (m.MAX_FILE_BYTES + 1)).code == "TOO_LARGE"


def test_huge_field_is_a_row_error_or_a_file_error():
    big = "y" * (m.MAX_CELL_CHARS + 1)
    result = mapped(f"email,notes\na@x.co,{big}\nb@x.co,ok\n")
    assert [r.row for r in result.rows] == [3]
    assert result.errors == [
        m.RowError(2, "notes", f"The value is longer than {m.MAX_CELL_CHARS}.")
    ]
    # Beyond the csv module's own field limit (a quoted field over many lines).
    huge = "\n".join(["z" * 1000] * 200)
    assert "not valid CSV" in invalid(m.parse, f'email,notes\na@x.co,"{huge}"\n').message


# --- mapping ----------------------------------------------------------------------------


def test_columns_map_by_header_name():
    header = [
        "userId",
        "E-mail",
        "Phone Number",
        "anonymous_id",
        "Tags",
        "First Name",
        "lifetimeValue",
        "id",
        "created_at",
        "properties.email_opt",
        "",
        "2nd Plan",
    ]
    plan = m.plan_columns(header, None)
    assert plan.mapping() == {
        "userId": "user_id",
        "E-mail": "email",
        "Phone Number": "phone",
        "anonymous_id": "anonymous_id",
        "Tags": "tags",
        "First Name": "properties.first_name",
        "lifetimeValue": "properties.lifetime_value",
        "properties.email_opt": "properties.email_opt",
        "2nd Plan": "properties._2nd_plan",
    }
    assert plan.width == len(header)


def test_explicit_mapping_ignores_unnamed_columns_and_normalises_targets():
    plan = m.plan_columns(
        ["Mail", "Given", "Junk"],
        m.validate_mapping({"Mail": "email", "Given": "properties.firstName"}),
    )
    assert plan.mapping() == {"Mail": "email", "Given": "properties.first_name"}


@pytest.mark.parametrize(
    ("mapping", "reason"),
    [
        ({"email": "mail"}, "Unknown target 'mail'"),
        ({"email": "properties.a.b"}, "must start with a letter"),
        ({"email": "properties.$where"}, "must start with a letter"),
        ({"email": "properties.email"}, "cannot be a property"),
        ({"email": 5}, "must be a string"),
        (["email"], "must be an object"),
    ],
)
def test_bad_mappings_are_rejected_before_reading_the_file(mapping, reason):
    error = invalid(m.validate_mapping, mapping)
    assert reason in error.message
    assert error.field.startswith("mapping")


@pytest.mark.parametrize(
    ("header", "mapping", "reason"),
    [
        (["email"], {"mail": "email"}, "'mail' named in the mapping is not in the file"),
        (["a", "b"], {"a": "email", "b": "email"}, "both map to email"),
        (["email", "Email "], None, "both map to email"),
        (["name", "city"], None, "No column maps to an identifier"),
        (["email", "名前"], None, "no usable property name"),
        (["email", "x"], {"x": "properties.x"}, "No column maps to an identifier"),
    ],
)
def test_unusable_plans(header, mapping, reason):
    assert reason in invalid(m.plan_columns, header, mapping).message


def test_duplicate_headers_are_rejected_even_when_unmapped():
    assert "Duplicate column" in invalid(m.parse, "email,x,x\na,1,2\n").message


# --- rows -------------------------------------------------------------------------------


def test_valid_rows_become_identify_messages_with_deterministic_ids():
    result = mapped(
        "user_id,email,phone,tags,first_name,score\n"
        'u1, Ann@Example.com ,+1 415 555 0100,"vip, b2b,vip",Ann,42\n'
        ",bob@example.com,,,,\n",
        fields={"score": FieldDef("score", "number")},
    )
    assert result.errors == [] and result.rejected == 0
    first, second = result.rows
    assert first.message == {
        "type": "identify",
        "messageId": "csv-import-job1-2",
        "userId": "u1",
        "traits": {
            "email": "ann@example.com",
            "phone": "+14155550100",
            "first_name": "Ann",
            "score": "42",
        },
        "context": {"importId": "job1", "importRow": 2},
    }
    assert first.tags == ["vip", "b2b"]
    # Identified by its email alone (imports ingest with trait identity).
    assert "anonymousId" not in second.message and "userId" not in second.message
    assert second.message["traits"] == {"email": "bob@example.com"}
    again = mapped("user_id,email\nu1,ann@example.com\n")
    assert again.rows[0].message["messageId"] == m.message_id("job1", 2)


def test_each_bad_cell_is_reported_and_the_row_left_out():
    result = mapped(
        "email,phone,score,tags,user_id\n"
        "not-an-email,12,abc,,\n"
        ",,,,\n"
        ",,7,vip,\n"
        "ok@example.com,,,\n"
        "x@example.com,,,\x01bad,\n"
        "ok2@example.com,,,,u2\n",
        fields={"score": FieldDef("score", "number")},
    )
    assert [r.row for r in result.rows] == [7]
    assert result.rejected == 4
    by_row = [(e.row, e.column) for e in result.errors]
    assert by_row == [(2, "email"), (2, "phone"), (2, "score"), (4, None), (5, None), (6, "tags")]
    reasons = {(e.row, e.column): e.reason for e in result.errors}
    assert reasons[(2, "email")] == (
        "Not a valid email address: An email address must have an @-sign."
    )
    assert reasons[(2, "score")] == "score must be a number; got 'abc'."
    assert reasons[(4, None)].startswith("No identifier")
    assert reasons[(5, None)] == "The row has 4 cells; the header has 5."


def test_empty_cells_leave_values_alone_and_regions_apply_to_phones():
    result = mapped("phone,city\n022 2345 6789,\n", region="IN")
    assert result.rows[0].message["traits"] == {"phone": "+912223456789"}


def test_formula_cells_are_stored_as_plain_text():
    payload = "=cmd|' /C calc'!A0"
    result = mapped(f'email,note\na@x.co,"{payload}"\n')
    assert result.rows[0].message["traits"]["note"] == payload
    # An export's escaping is undone, so files round-trip.
    result = mapped("email,note\na@x.co,'=1+2\n")
    assert result.rows[0].message["traits"]["note"] == "=1+2"


def test_too_many_tags_and_oversized_rows():
    tags = ",".join(f"t{i}" for i in range(m.MAX_TAGS_PER_ROW + 1))
    result = mapped(f'email,tags\na@x.co,"{tags}"\n')
    assert result.errors[0].reason == f"At most {m.MAX_TAGS_PER_ROW} tags per contact."
    cells = ",".join("v" * 4000 for _ in range(10))
    header = ",".join(f"p{i}" for i in range(10))
    result = mapped(f"email,{header}\na@x.co,{cells}\n")
    assert "larger than 32 KB" in result.errors[0].reason


def test_column_for_finds_the_column_behind_a_problem_field():
    plan = m.plan_columns(
        ["E-mail", "uid", "Score"],
        {"E-mail": "email", "uid": "user_id", "Score": "properties.score"},
    )
    assert plan.column_for("email") == "E-mail"
    assert plan.column_for("userId") == "uid"
    assert plan.column_for("traits.score") == "Score"
    assert plan.column_for(None) is None and plan.column_for("other") is None


# --- export -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        ("+1+cmd", "'+1+cmd"),
        ("-2-3", "'-2-3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("-5", "-5"),
        ("+14155550100", "+14155550100"),
        ("1.5e3", "1.5e3"),
        ("plain", "plain"),
        (None, ""),
        (True, "true"),
        (3, "3"),
        (["a", "=b"], "a,=b"),
        (["=a", "b"], "'=a,b"),
        ({"b": 1, "a": "x"}, '{"a": "x", "b": 1}'),
        (datetime(2026, 1, 2, 3, 4, tzinfo=UTC), "2026-01-02T03:04:00+00:00"),
    ],
)
def test_export_cells_escape_formulas(value, cell):
    assert m.cell(value) == cell


def test_export_rows_round_trip_through_csv_reader():
    keys = m.order_property_keys(["score", "first_name", "id", "city"])
    assert keys == ["first_name", "city", "id", "score"]
    header = m.export_header(keys)
    assert header[-4:] == ["first_name", "city", "properties.id", "score"]
    contact = {
        "_id": "abc",
        "user_id": "u1",
        "email": "a@x.co",
        "phone": "+14155550100",
        "anonymous_ids": ["d1", "d2"],
        "tags": ["vip", "b2b"],
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
        "last_active_at": datetime(2026, 1, 2, tzinfo=UTC),
        "properties": {"first_name": '=HYPERLINK("x")', "city": 'Pune,\n"MH"', "id": 7},
    }
    text = m.to_csv([header, m.export_row(contact, keys)])
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == header
    assert rows[1][:6] == ["abc", "u1", "a@x.co", "+14155550100", "d1,d2", "vip,b2b"]
    assert rows[1][-4:] == ['\'=HYPERLINK("x")', 'Pune,\n"MH"', "7", ""]
    # And the export imports again: system columns ignored, escaping undone.
    table = m.parse(text)
    plan = m.plan_columns(table.header, None)
    assert plan.mapping()["score"] == "properties.score"
    assert not {"id", "properties.id", "created_at"} & set(plan.mapping())
    row = m.map_rows(table.rows, plan, job_id="j").rows[0]
    assert row.message["traits"]["first_name"] == '=HYPERLINK("x")'
    assert row.tags == ["vip", "b2b"]
