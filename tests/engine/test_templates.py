"""Templates: personalisation, errors that name the line and the variable, hostile
templates that must fail fast and small, content checks and the template context."""

from __future__ import annotations

import time
import tracemalloc
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import escape

from engine.errors import InvalidInput
from engine.templates import (
    CONTENT_FIELDS,
    MAX_OUTPUT,
    check_content,
    context_for,
    render,
)

CONTACT = {
    "_id": "c1",
    "email": "ann@example.com",
    "phone": "+14155550100",
    "user_id": "u1",
    "tags": ["vip"],
    "properties": {"first_name": "Ann", "city": "Leeds", "email": "spoof@example.com"},
}
EMPTY = context_for({"_id": "c2"})


def fails(source: str, context: dict | None = None, *, html: bool = False) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        render(source, EMPTY if context is None else context, html=html)
    return caught.value


# --- personalisation ---------------------------------------------------------------------


def test_default_applies_when_a_property_is_missing():
    source = 'Hi {{ contact.first_name | default("there") }}!'
    assert render(source, context_for(CONTACT)) == "Hi Ann!"
    assert render(source, EMPTY) == "Hi there!"


def test_default_applies_to_a_missing_chain():
    assert render('{{ contact.address.city | default("-") }}', EMPTY) == "-"


def test_a_missing_variable_is_an_error_naming_it_and_its_line():
    error = fails("Hello\n\n{{ contact.last_name }}")
    assert error.code == "TEMPLATE_RENDER"
    assert error.message.startswith("Line 3: ")
    assert "'last_name' is undefined" in error.message


def test_syntax_errors_name_the_line():
    error = fails("one\ntwo {% if %}\nthree")
    assert error.code == "TEMPLATE_SYNTAX"
    assert error.message.startswith("Line 2: ")
    error = fails("{% for x in y %}never closed")
    assert error.code == "TEMPLATE_SYNTAX"


def test_html_escapes_values_but_not_the_template():
    context = context_for({"properties": {"first_name": "<script>x</script>"}})
    out = render("<b>{{ contact.first_name }}</b>", context, html=True)
    assert out == "<b>&lt;script&gt;x&lt;/script&gt;</b>"
    assert render("<b>{{ contact.first_name }}</b>", context) == "<b><script>x</script></b>"


def test_marketer_filters():
    context = {
        "when": "2026-03-01T23:30:00Z",
        "day": date(2026, 12, 25),
        "at": datetime(2026, 7, 4, 12, 0, tzinfo=UTC),
    }
    assert render('{{ when | date("%d %B %Y") }}', context) == "01 March 2026"
    assert render('{{ when | date("%d %b %H:%M", tz="Asia/Kolkata") }}', context) == (
        "02 Mar 05:00"
    )
    assert render("{{ day | date }}", context) == "Dec 25, 2026"
    assert render('{{ at | date("%A") }}', context) == "Saturday"
    assert render('{{ "ann lee" | title }}', {}) == "Ann Lee"
    assert render('{{ 1234.5 | currency("EUR") }} {{ 1500 | currency("JPY") }}', {}) == (
        "€1,234.50 ¥1,500"
    )
    assert render('{{ -3 | currency("CHF") }}', {}) == "-CHF 3.00"
    assert render("{{ [3, 1, 2] | sort | join(',') }} {{ [1, 2] | sum }}", {}) == "1,2,3 3"
    assert "Line 1" in fails('{{ "soon" | date }}').message
    assert "time zone" in fails('{{ "2026-01-01" | date(tz="Mars/Base") }}').message


def test_loops_macros_and_safe_string_methods_work():
    source = (
        "{% macro item(t) %}[{{ t | upper }}]{% endmacro %}"
        "{% for t in contact.tags %}{{ item(t) }}{{ ', ' if not loop.last }}{% endfor %}"
        " {{ contact.email.split('@')[1] }} {{ range(3) | list }}"
    )
    context = context_for({**CONTACT, "tags": ["a", "b"]})
    assert render(source, context) == "[A], [B] example.com [0, 1, 2]"


# --- hostile templates -------------------------------------------------------------------

HOSTILE = {
    "class walk": "{{ ''.__class__.__mro__ }}",
    "subclasses": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "globals": "{{ cycler.__init__.__globals__ }}",
    "import via attr": "{{ (joiner|attr('__init__')).__globals__ }}",
    "mutation": "{{ contact.tags.append(1) }}",
    "huge range": "{{ range(10**9) | list }}",
    "string times": "{{ 'x' * 10**9 }}",
    "list times": "{{ [1] * 10**9 }}",
    "nested list times": "{{ [['x' * 1000] * 1000] * 1000 }}",
    "power": "{{ 10 ** (10 ** 10) }}",
    "big product": "{{ (2 ** 4000) * (2 ** 4000) }}",
    "percent padding": "{{ '%999999999d' % 1 }}",
    "format padding": "{{ '{:>999999999}'.format('x') }}",
    "ljust": "{{ 'x'.ljust(1000000000) }}",
    "center filter": "{{ 'x' | center(1000000000) }}",
    "indent filter": "{{ ('a\\n' * 1000) | indent(10000) }}",
    "batch fill": "{{ [1] | batch(1000000000, 'x') | list }}",
    "slice": "{{ [1] | slice(1000000000) | list }}",
    "replace growth": "{{ ('a' * 1000) | replace('a', 'b' * 1000) }}",
    "str replace growth": "{{ ('a' * 1000).replace('a', 'b' * 1000) }}",
    "join separator": "{{ range(10000) | join('x' * 50000) }}",
    "sum of lists": "{{ ([[1]] * 1000) | sum(start=[]) }}",
    "strftime width": "{{ now.strftime('%999999999Y') }}",
    "date width": "{{ now | date('%999999999Y') }}",
    "doubling macro": "{% macro f(s) %}{{ f(s ~ s) }}{% endmacro %}{{ f('x') }}",
    "endless macro": "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "exponential macro": (
        "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
        "{{ f(60) }}"
    ),
    "silent nested loops": (
        "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"
    ),
    "namespace doubling": (
        "{% set ns = namespace(s='x') %}{% for i in range(64) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}"
    ),
    "captured output": (
        "{% set x %}{% for i in range(10000) %}{{ 'y' * 1000 }}{% endfor %}{% endset %}"
        "{{ x | length }}"
    ),
    "macro buffer": (
        "{% macro m() %}{% for i in range(10000) %}" + "z" * 500 + "{% endfor %}"
        "{% endmacro %}{{ m() | length }}"
    ),
    "filter block": "{% filter upper %}{% for i in range(10000) %}{{ 'q' * 200 }}{% endfor %}"
    "{% endfilter %}",
    "recursive loop": "{% for x in [1, 2] recursive %}{{ loop([1, 2]) }}{% endfor %}",
    "deep nesting": "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}",
    "include": "{% include 'secrets.txt' %}",
    "import": "{% import 'x' as x %}",
    "extends": "{% extends 'base' %}",
    "too long": "x" * 200_000,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_templates_fail_fast_without_blowing_memory(name):
    context = {**EMPTY, "now": datetime(2026, 1, 1, tzinfo=UTC)}
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(InvalidInput) as caught:
            render(HOSTILE[name], context)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.code in ("TEMPLATE_SYNTAX", "TEMPLATE_RENDER")
    assert caught.value.message
    assert elapsed < 5, f"{name} took {elapsed:.1f}s"
    assert peak < 64 * 1024 * 1024, f"{name} peaked at {peak / 2**20:.0f} MB"


def test_unsafe_access_is_reported_as_such():
    assert "unsafe" in fails("{{ ''.__class__.__mro__ }}").message
    assert "not available" in fails("{{ 'x'.ljust(9) }}").message


def test_output_is_capped():
    error = fails("{% for i in range(2000) %}" + "z" * 100 + "{% endfor %}")
    assert error.code == "TEMPLATE_RENDER"
    assert "100 KB" in error.message
    near = "{% for i in range(1000) %}" + "z" * 100 + "{% endfor %}"
    assert len(render(near, {})) == 100_000 <= MAX_OUTPUT


def test_a_runtime_error_is_a_render_error_with_its_line():
    error = fails("ok\n{{ 1 / 0 }}")
    assert error.code == "TEMPLATE_RENDER"
    assert error.message == "Line 2: division by zero"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("a\n\n{{ 1 + 'x' }}", "Line 3: a value has the wrong type for this operation ("),
        ("{{ 1 / 0 }}", "Line 1: division by zero"),
        ("{{ " + "9" * 5000 + " }}", "the template contains a value that cannot be read"),
    ],
)
def test_error_messages_name_the_problem_not_python_exception_classes(source, message):
    error = fails(source)
    assert error.message.startswith(message), error.message
    for name in ("Error:", "Exception", "Traceback", "ZeroDivision"):
        assert name not in error.message


def test_a_webhook_body_that_is_not_json_says_where():
    from engine.templates import check_content

    (problem,) = check_content({"webhook": {"body": '{"a": 1,\n "b": }'}}, {})
    assert problem.field == "content.webhook.body"
    assert problem.message == "The body must render JSON: Expecting value at line 2 column 7"


def test_compiled_templates_are_cached():
    from engine.templates import _compile

    _compile.cache_clear()
    for _ in range(3):
        render("{{ 1 }}", {})
    assert _compile.cache_info().hits == 2


# --- check_content ---------------------------------------------------------------------


def test_check_content_reports_every_problem_with_its_path():
    content = {
        "email": {"subject": "Hi {{ contact.first_name }}", "html": "<p>{% if %}</p>"},
        "sms": {"text": "ok", "media": "x"},
        "fax": {"text": "x"},
        "push": {"title": "{{ contact.first_name | default('you') }}", "body": "{{ 1/0 }}"},
        "webhook": {"body": '{"id": "{{ contact.id }}", }'},
    }
    problems = check_content(content, EMPTY)
    got = sorted((p.field, p.code) for p in problems)
    assert got == [
        ("content.email.html", "TEMPLATE_SYNTAX"),
        ("content.email.subject", "TEMPLATE_RENDER"),
        ("content.email.text", "INVALID"),
        ("content.fax", "INVALID"),
        ("content.push.body", "TEMPLATE_RENDER"),
        ("content.sms.media", "INVALID"),
        ("content.webhook.body", "TEMPLATE_RENDER"),
    ]
    assert all(isinstance(p, InvalidInput) for p in problems)


def test_check_content_accepts_good_content_for_every_channel():
    content = {
        channel: {
            field: f"{field}: {{{{ contact.first_name | default('x') }}}}"
            for field in (
                *required,
                *optional,
            )
        }
        for channel, (required, optional) in CONTENT_FIELDS.items()
    }
    content["webhook"] = {"body": '{"contact": {{ contact.id | tojson }}}'}
    assert check_content(content, EMPTY) == []
    assert check_content({"webhook": {}}, EMPTY) == []  # the default payload is used
    assert [p.field for p in check_content("nope", EMPTY)] == ["content"]  # type: ignore[arg-type]
    assert [p.field for p in check_content({"sms": {"text": 5}}, EMPTY)] == ["content.sms.text"]


# --- context ---------------------------------------------------------------------------


def test_context_flattens_properties_without_overwriting_identity():
    ctx = context_for(
        CONTACT,
        event={"event": "checkout_started", "properties": {"cart_url": "https://x/c"}},
        location={"name": "Leeds"},
        workspace={"name": "Shop"},
        message={"unsubscribe_url": "https://x/u"},
    )
    person = ctx["contact"]
    assert person["first_name"] == "Ann"
    assert person["email"] == "ann@example.com"
    assert person["properties"]["email"] == "spoof@example.com"
    assert (person["id"], person["phone"], person["user_id"]) == ("c1", "+14155550100", "u1")
    assert person["tags"] == ["vip"]
    assert ctx["event"]["name"] == "checkout_started"
    assert ctx["event"]["cart_url"] == ctx["event"]["properties"]["cart_url"]
    assert ctx["location"] == {"name": "Leeds"}
    assert ctx["workspace"] == {"name": "Shop"}
    assert ctx["message"]["unsubscribe_url"] == "https://x/u"
    assert context_for({})["event"] == {}


def test_context_holds_plain_values_only():
    class ObjectId:
        def __str__(self) -> str:
            return "65f0"

    ctx = context_for({"_id": ObjectId(), "properties": {"ref": ObjectId(), "n": [1, (2, 3)]}})
    assert ctx["contact"]["id"] == "65f0"
    assert ctx["contact"]["ref"] == "65f0"
    assert ctx["contact"]["n"] == [1, [2, 3]]
    assert "email" not in ctx["contact"]  # missing identifiers are left out: | default works


_keys = st.sampled_from(["id", "email", "phone", "user_id", "tags", "properties", "a", "b"])


@settings(max_examples=100)
@given(properties=st.dictionaries(_keys, st.text(max_size=5), max_size=8))
def test_properties_never_shadow_identity(properties):
    contact = {"_id": "i", "email": "e@x", "phone": "+1", "user_id": "u", "tags": ["t"]}
    person = context_for({**contact, "properties": properties})["contact"]
    assert (person["id"], person["email"], person["phone"], person["user_id"]) == (
        "i",
        "e@x",
        "+1",
        "u",
    )
    assert person["tags"] == ["t"]
    assert person["properties"] == properties
    for key in ("a", "b"):
        assert person.get(key) == properties.get(key)


@settings(max_examples=150)
@given(value=st.text(max_size=200))
def test_a_value_renders_verbatim_in_text_and_escaped_in_html(value):
    # Two formulations: our sandbox and MarkupSafe's own escape.
    context = {"v": value}
    assert render("{{ v }}", context) == value
    assert render("{{ v }}", context, html=True) == str(escape(value))
