"""Message personalisation: render sandboxed Jinja2 templates, check per-channel content
at save time, and build the context a template sees.

Marketers write templates and we render them for every contact of a campaign, so a
template must neither run code nor hold a worker hostage. engine.template_sandbox holds
the environment (ImmutableSandboxedEnvironment, strict undefined values, few filters) and
rewrites each template so engine.template_limits' budget is charged where work happens;
here the output is capped at MAX_OUTPUT bytes and compiled templates are cached.

Errors are engine.errors.InvalidInput with code TEMPLATE_SYNTAX or TEMPLATE_RENDER and a
message that names the line and the problem.
"""

from __future__ import annotations

import json
import traceback
from datetime import date
from datetime import time as clock
from functools import lru_cache
from typing import Any

from jinja2 import TemplateSyntaxError
from jinja2.exceptions import TemplateError

from engine.errors import InvalidInput
from engine.template_limits import Budget, budget
from engine.template_sandbox import UNSUPPORTED, Guards, environment

MAX_SOURCE = 100_000  # characters of one template
MAX_OUTPUT = 100 * 1024  # bytes of one rendered template

SYNTAX = "TEMPLATE_SYNTAX"
RENDER = "TEMPLATE_RENDER"

# channel -> (required fields, optional fields)
CONTENT_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "email": (("subject", "text"), ("html",)),
    "sms": (("text",), ()),
    "whatsapp": (("text",), ()),
    "rcs": (("text",), ()),
    "push": (("title", "body"), ("url",)),
    "web_push": (("title", "body"), ("url",)),
    "in_app": (("title", "body"), ("url",)),
    "webhook": ((), ("body",)),
}
HTML_FIELDS = {("email", "html")}
JSON_FIELDS = {("webhook", "body")}


def _syntax_error(message: str, line: int | None = None) -> InvalidInput:
    where = f"Line {line}: " if line else ""
    return InvalidInput(f"{where}{message}", code=SYNTAX)


@lru_cache(maxsize=256)
def _compile(source: str, html: bool) -> Any:
    """Parse, check, guard and compile one template source (cached: a campaign renders the
    same few sources for every contact)."""
    env = environment(html)
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        raise _syntax_error(exc.message or "invalid template", exc.lineno) from None
    except RecursionError:
        raise _syntax_error("the template nests too deeply") from None
    except Exception:  # the lexer converts literals and may fail on odd ones
        raise _syntax_error("the template contains a value that cannot be read") from None
    for kind, tag in UNSUPPORTED.items():
        for found in tree.find_all(kind):
            raise _syntax_error(f"{tag} is not available in message templates", found.lineno)
    tree = Guards().visit(tree)
    tree.set_environment(env)
    try:
        return env.from_string(tree)
    except TemplateSyntaxError as exc:
        raise _syntax_error(exc.message or "invalid template", exc.lineno) from None
    except RecursionError:
        raise _syntax_error("the template nests too deeply") from None


def _template_line(exc: BaseException) -> int | None:
    """The template line an error was raised at (Jinja rewrites tracebacks so template
    frames carry the template's own line numbers)."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == "<template>":
            line = frame.lineno
    return line


# What a template author reads for the errors an expression can raise (never Python's
# exception class names).
_PROBLEMS: dict[type, str] = {
    ZeroDivisionError: "division by zero",
    TypeError: "a value has the wrong type for this operation",
    ValueError: "a value is not valid for this operation",
    KeyError: "a key is missing",
    IndexError: "an index is out of range",
    OverflowError: "a number is too large",
}


def _render_error(exc: BaseException) -> InvalidInput:
    line = _template_line(exc)
    if isinstance(exc, RecursionError):
        problem = "macros or loops call themselves too deeply"
    elif isinstance(exc, MemoryError):
        problem = "the template uses too much memory"
    elif isinstance(exc, TemplateError):
        problem = exc.message or "the template could not be rendered"
    else:
        problem = _PROBLEMS.get(type(exc), "the template could not be rendered")
        detail = " ".join(str(exc).split())[:200]
        if type(exc) in (TypeError, ValueError) and detail:
            problem = f"{problem} ({detail})"  # e.g. which operand types did not mix
    where = f"Line {line}: " if line else ""
    return InvalidInput(f"{where}{problem}"[:500], code=RENDER)


def render(source: str, context: dict, *, html: bool = False) -> str:
    """Render one template for one context; InvalidInput(TEMPLATE_SYNTAX|TEMPLATE_RENDER)."""
    if not isinstance(source, str):
        raise InvalidInput("A template must be text.", code=SYNTAX)
    if len(source) > MAX_SOURCE:
        raise InvalidInput(f"A template may be at most {MAX_SOURCE} characters.", code=SYNTAX)
    template = _compile(source, html)
    token = budget.set(Budget())
    size = 0
    parts: list[str] = []
    try:
        for chunk in template.generate(context):
            size += len(chunk.encode("utf-8"))
            if size > MAX_OUTPUT:
                raise InvalidInput(
                    f"The rendered message is larger than {MAX_OUTPUT // 1024} KB.", code=RENDER
                )
            parts.append(chunk)
    except InvalidInput:
        raise
    except Exception as exc:  # anything a template can raise is the template's problem
        raise _render_error(exc) from None
    finally:
        budget.reset(token)
    return "".join(parts)


def check_content(content: dict[str, dict[str, str]], sample: dict) -> list[InvalidInput]:
    """Every problem of per-channel content, each at "content.<channel>.<field>": unknown
    channels and fields, missing required fields, then syntax and a render of `sample`."""
    if not isinstance(content, dict):
        return [InvalidInput("Content must be an object of channels.", field="content")]
    problems: list[InvalidInput] = []
    for channel, fields in content.items():
        at = f"content.{channel}"
        if channel not in CONTENT_FIELDS:
            known = ", ".join(CONTENT_FIELDS)
            problems.append(InvalidInput(f"Unknown channel {str(channel)[:40]!r} ({known}).", at))
            continue
        if not isinstance(fields, dict):
            problems.append(InvalidInput("Channel content must be an object of fields.", at))
            continue
        required, optional = CONTENT_FIELDS[channel]
        for name in required:
            value = fields.get(name)
            if value is None or (isinstance(value, str) and not value.strip()):
                problems.append(InvalidInput(f"{name} is required for {channel}.", f"{at}.{name}"))
        for name, source in fields.items():
            where = f"{at}.{name}"
            if name not in required and name not in optional:
                allowed = ", ".join((*required, *optional))
                problems.append(
                    InvalidInput(f"Unknown field {str(name)[:40]!r} ({allowed}).", where)
                )
                continue
            if source is None or (isinstance(source, str) and not source.strip()):
                continue  # missing: reported above when required
            if not isinstance(source, str):
                problems.append(InvalidInput("A template must be text.", where, SYNTAX))
                continue
            try:
                text = render(source, sample, html=(channel, name) in HTML_FIELDS)
                if (channel, name) in JSON_FIELDS:
                    json.loads(text)
            except InvalidInput as exc:
                problems.append(InvalidInput(exc.message, where, exc.code))
            except json.JSONDecodeError as exc:
                problems.append(
                    InvalidInput(
                        f"The body must render JSON: {exc.msg} at line {exc.lineno} column "
                        f"{exc.colno}",
                        where,
                        RENDER,
                    )
                )
            except ValueError:
                problems.append(InvalidInput("The body must render JSON.", where, RENDER))
    return problems


# --- the context a template sees --------------------------------------------------------

IDENTITY_KEYS = ("id", "email", "phone", "user_id", "tags", "properties")


def _plain(value: Any, depth: int = 0) -> Any:
    """Plain data only (ids from the database become text): a template should see values,
    not objects whose methods it could call."""
    if value is None or isinstance(value, str | bool | int | float | date | clock):
        return value
    if depth > 32:
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v, depth + 1) for v in value]
    return str(value)


def _flattened(properties: dict[str, Any], reserved: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in properties.items() if k not in reserved and v is not None}


def context_for(
    contact: dict,
    *,
    event: dict | None = None,
    location: dict | None = None,
    workspace: dict | None = None,
    message: dict | None = None,
) -> dict:
    """The template context for one contact: properties at the top of `contact` (so
    `contact.first_name` works) without shadowing the identifiers, and also under
    `contact.properties`; missing identifiers are left out so `| default` applies."""
    properties = _plain(contact.get("properties") or {})
    person = _flattened(properties, IDENTITY_KEYS)
    contact_id = contact.get("id", contact.get("_id"))
    identity = {
        "id": None if contact_id is None else str(contact_id),
        "email": contact.get("email"),
        "phone": contact.get("phone"),
        "user_id": contact.get("user_id"),
    }
    person |= {k: _plain(v) for k, v in identity.items() if v is not None}
    person["tags"] = _plain(contact.get("tags") or [])
    person["properties"] = properties
    happened: dict[str, Any] = {}
    if event:
        event_properties = _plain(event.get("properties") or {})
        happened = _flattened(event_properties, ("name", "properties", "timestamp"))
        happened["name"] = event.get("name") or event.get("event")
        happened["properties"] = event_properties
        if event.get("timestamp") is not None:
            happened["timestamp"] = _plain(event["timestamp"])
    return {
        "contact": person,
        "event": happened,
        "location": _plain(location or {}),
        "workspace": _plain(workspace or {}),
        "message": _plain(message or {}),
    }
