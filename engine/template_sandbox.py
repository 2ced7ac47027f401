"""The Jinja2 environment message templates run in: ImmutableSandboxedEnvironment (no
attribute tricks, no mutation), strict undefined values, a short list of filters, and a
rewrite of each parsed template so the render budget (engine.template_limits) is charged
wherever work happens: loop items, calls, filters, operators, `~` and every write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime
from datetime import time as clock
from functools import lru_cache, wraps
from typing import Any

from jinja2 import (
    ChainableUndefined,
    StrictUndefined,
    nodes,
    pass_context,
    pass_environment,
    pass_eval_context,
)
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

from engine.template_limits import (
    MAX_COUNT_ARG,
    MAX_INT_BITS,
    MAX_RANGE,
    MAX_VALUE,
    TemplateLimit,
    budget,
    charge,
    check,
    check_replace,
    check_strftime,
    size_of,
)
from engine.traits import parse_datetime
from engine.zones import zone

# --- undefined values ------------------------------------------------------------------


class _Undefined(ChainableUndefined, StrictUndefined):
    """Strict (printing or testing a missing value is an error), but chainable, so that
    `contact.address.city | default("")` works when `address` is missing too."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        if self._undefined_hint:
            return self._undefined_hint
        return (
            f"{self._undefined_name!r} is undefined "
            '(add | default("...") where a value may be missing)'
        )


# --- the sandbox -----------------------------------------------------------------------

# fmt: off
STR_METHODS = frozenset((
    "capitalize", "casefold", "count", "endswith", "find", "index", "isalnum", "isalpha",
    "isdecimal", "isdigit", "islower", "isnumeric", "isspace", "istitle", "isupper", "lower",
    "lstrip", "removeprefix", "removesuffix", "replace", "rfind", "rindex", "rsplit",
    "rstrip", "split", "splitlines", "startswith", "strip", "swapcase", "title", "upper",
))
# fmt: on
class _Sandbox(ImmutableSandboxedEnvironment):
    # Intercepted operators are also never folded into constants at compile time.
    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        charge()
        if operator == "%" and isinstance(left, str):
            raise TemplateLimit("'%' formatting is not available in templates; use filters")
        if operator == "*":
            _check_repeat(left, right)
            _check_repeat(right, left)
            both_ints = _is_int(left) and _is_int(right)
            if both_ints and left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise TemplateLimit("the number would be too large")
        elif operator == "**" and _is_int(left) and _is_int(right) and right > 0:
            if abs(left) > 1 and left.bit_length() * right > MAX_INT_BITS:
                raise TemplateLimit("the number would be too large")
        elif operator == "+" and not (_is_number(left) and _is_number(right)):
            _check_sum(left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        charge()
        owner = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", "")
        if isinstance(owner, str):
            if name not in STR_METHODS:
                raise TemplateLimit(f"str.{name}() is not available in templates")
            if name == "replace" and len(args) >= 2:
                check_replace(owner, *args[:3])
        if isinstance(owner, date | clock) and name == "strftime" and args:
            check_strftime(args[0])
        for value in (*args, *(v for k, v in kwargs.items() if not k.startswith("_"))):
            check(value, "an argument")
        return check(super().call(__context, __obj, *args, **kwargs), "a result")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        # str.format can pad to any width ("{:>999999999}"); it is refused outright.
        if getattr(value, "__name__", None) in ("format", "format_map") and isinstance(
            getattr(value, "__self__", None), str
        ):

            def refused(*args: Any, **kwargs: Any) -> str:
                raise TemplateLimit("str.format() is not available in templates")

            return refused
        return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float)


def _check_sum(left: Any, right: Any) -> None:
    if size_of(left) + size_of(right) > MAX_VALUE:
        raise TemplateLimit(f"a value would be larger than {MAX_VALUE // 1024} KB")


def _check_repeat(sequence: Any, times: Any) -> None:
    repeated = isinstance(sequence, str | list | tuple) and _is_int(times) and times > 0
    if repeated and size_of(sequence) * times > MAX_VALUE:
        raise TemplateLimit(f"a value would be larger than {MAX_VALUE // 1024} KB")


# --- filters and globals ------------------------------------------------------------------

# Jinja's built-in filters a message may use. Left out: format (width padding), wordwrap,
# urlize (regex-heavy), pprint, random (a message must render the same way twice).
# fmt: off
ALLOWED_FILTERS = frozenset((
    "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e",
    "escape", "filesizeformat", "first", "float", "forceescape", "groupby", "indent", "int",
    "items", "join", "last", "length", "list", "lower", "map", "max", "min", "reject",
    "rejectattr", "replace", "reverse", "round", "safe", "select", "selectattr", "slice",
    "sort", "string", "striptags", "sum", "title", "tojson", "trim", "truncate", "unique",
    "upper", "urlencode", "wordcount", "xmlattr",
))
# fmt: on


def _guard_args(name: str, values: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Argument checks for filters whose work grows with an argument, not the value."""
    arguments = [*values[1:], *kwargs.values()]
    if name == "center":
        width = values[1] if len(values) > 1 else kwargs.get("width", 80)
        if _is_int(width) and width > MAX_VALUE:
            raise TemplateLimit("center() width is too large")
    elif name == "indent":
        width = values[1] if len(values) > 1 else kwargs.get("width", 4)
        lines = str(values[0]).count("\n") + 1 if values else 1
        each = len(width) if isinstance(width, str) else width if _is_int(width) else 0
        if each * lines > MAX_VALUE:
            raise TemplateLimit("indent() would build too large a value")
    elif name in ("batch", "slice"):
        if any(_is_int(n) and not 0 < n <= MAX_COUNT_ARG for n in arguments[:1]):
            raise TemplateLimit(f"{name}() takes a size from 1 to {MAX_COUNT_ARG}")
    elif name == "replace" and len(values) >= 3 and isinstance(values[0], str):
        check_replace(values[0], *values[1:4])


def _guarded(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    pass_arg = getattr(func, "jinja_pass_arg", None)

    @wraps(func)  # keeps jinja_pass_arg, so Jinja passes the context as before
    def run(*args: Any, **kwargs: Any) -> Any:
        charge()
        values = args[1:] if pass_arg is not None else args
        for value in (*values, *kwargs.values()):
            check(value, f"the input of | {name}")
        _guard_args(name, values, kwargs)
        return check(func(*args, **kwargs), f"the result of | {name}")

    return run


@pass_eval_context
def _join(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> str:
    from jinja2.filters import do_join

    items = check(list(value), "the input of | join")
    if isinstance(d, str) and len(d) * len(items) > MAX_VALUE:
        raise TemplateLimit("join() would build too large a value")
    return do_join(eval_ctx, items, d, attribute)


@pass_environment
def _sum(environment: Any, iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
    from jinja2.filters import do_sum

    # Numbers only: summing lists copies them again and again (quadratic work).
    if not _is_number(start):
        raise TemplateLimit("sum() adds numbers only")
    return do_sum(environment, iterable, attribute, start)


def _date(value: Any, format: str = "%b %d, %Y", tz: str | None = None) -> str:
    """`{{ contact.birthday | date("%d %B") }}`: datetimes, dates, ISO text or epoch."""
    check_strftime(format)
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.strftime(format)
    try:
        moment = parse_datetime(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"| date cannot read {str(value)[:40]!r} as a date") from exc
    if tz is not None:
        target = zone(tz)
        if target is None:
            raise ValueError(f"| date: unknown time zone {str(tz)[:40]!r}")
        moment = moment.astimezone(target)
    return moment.strftime(format)


CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "INR": "₹", "JPY": "¥", "CNY": "¥"}
ZERO_DECIMAL_CURRENCIES = {"JPY", "KRW", "VND", "CLP", "ISK"}


def _currency(value: Any, code: str = "USD") -> str:
    """`{{ event.properties.amount | currency("EUR") }}` -> €1,234.50"""
    try:
        amount = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"| currency needs a number, got {str(value)[:40]!r}") from exc
    code = str(code).upper()[:3]
    digits = 0 if code in ZERO_DECIMAL_CURRENCIES else 2
    text = f"{abs(amount):,.{digits}f}"
    sign = "-" if amount < 0 else ""
    symbol = CURRENCY_SYMBOLS.get(code)
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{code} {text}"


@pass_context
def _value(context: Any, value: Any) -> Any:
    """Wrapped around `a ~ b`: a concatenation is checked once it is built (its parts
    were checked when they were made, so it is at most a few times the limit)."""
    charge()
    return check(value, "a text")


@pass_context
def _each(context: Any, iterable: Any) -> Iterator[Any]:
    """Wrapped around every loop's iterable: each item costs a step."""
    current = budget.get()
    for item in iterable:
        if current is not None:
            current.charge()
        yield item


@pass_context
def _written(context: Any, value: Any) -> Any:
    """Wrapped around everything a template writes, also into macro and set buffers."""
    current = budget.get()
    if current is not None:
        current.charge()
        current.write(len(value) if isinstance(value, str) else len(str(check(value))))
    return value


def _range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise TemplateLimit(f"range() may produce at most {MAX_RANGE} numbers")
    return numbers


class Guards(NodeTransformer):
    """Rewrite a parsed template so the budget is charged where work happens."""

    def visit_Output(self, node: nodes.Output) -> nodes.Output:
        self.generic_visit(node)
        wrapped: list[nodes.Expr] = []
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                child = nodes.MarkSafeIfAutoescape(
                    nodes.Const(child.data, lineno=child.lineno), lineno=child.lineno
                )
            wrapped.append(_filter(child, "_written"))
        node.nodes = wrapped
        return node

    def visit_For(self, node: nodes.For) -> nodes.For:
        self.generic_visit(node)
        node.iter = _filter(node.iter, "_each")
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Expr:
        self.generic_visit(node)
        return _filter(node, "_value")


def _filter(node: nodes.Expr, name: str) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)


UNSUPPORTED = {
    nodes.Extends: "{% extends %}",
    nodes.Include: "{% include %}",
    nodes.Import: "{% import %}",
    nodes.FromImport: "{% from ... import %}",
}


@lru_cache(maxsize=2)
def environment(html: bool) -> _Sandbox:
    env = _Sandbox(undefined=_Undefined, autoescape=html, auto_reload=False)
    builtin = env.filters
    env.filters = {name: _guarded(name, builtin[name]) for name in ALLOWED_FILTERS}
    env.filters |= {
        "join": _guarded("join", _join),
        "sum": _guarded("sum", _sum),
        "date": _guarded("date", _date),
        "currency": _guarded("currency", _currency),
        "_value": _value,
        "_each": _each,
        "_written": _written,
    }
    env.globals = {
        "range": _range,
        "dict": dict,
        "cycler": env.globals["cycler"],
        "joiner": env.globals["joiner"],
        "namespace": env.globals["namespace"],
    }
    return env
