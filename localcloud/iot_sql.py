"""The subset of AWS IoT SQL (version 2016-03-23) that the hub's topic rules use.

Parse once with :func:`compile_rule`, then call :meth:`Rule.evaluate` for every message.

Supported, with IoT semantics:

* ``SELECT`` items ``expr AS name`` and ``*`` (merges the payload's fields when it is a JSON object;
  contributes nothing otherwise).
* Functions ``encode(*, 'base64')``, ``topic()``, ``topic(n)`` (1-based segment, Undefined when missing),
  ``clientid()``, ``timestamp()`` (epoch ms) and ``isUndefined(expr)``.
* ``FROM 'filter'`` with the MQTT wildcards ``+`` and ``#``.
* ``WHERE`` with ``=``, ``<>``, ``AND``, ``OR``, ``NOT``, parentheses, single-quoted strings, integers and
  ``true``/``false``.

Undefined is a value of its own: a SELECT item that evaluates to Undefined is left out of the output;
a comparison with an Undefined operand is Undefined, and so is ``NOT`` Undefined. ``AND``/``OR`` use
three-valued logic (``true OR Undefined`` is true, ``false AND Undefined`` is false); anything else
involving a non-Boolean operand is Undefined. A WHERE that is not true drops the message.

Anything else (payload field references, other functions and operators, ``SELECT`` without ``AS``) is
refused by :func:`compile_rule` with an :class:`IotSqlError` that says where and why.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Final

__all__ = ["UNDEFINED", "IotSqlError", "Rule", "compile_rule", "topic_matches"]


class _Undefined:
    """IoT SQL's Undefined: not null, not false, simply absent."""

    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "Undefined"

    def __bool__(self) -> bool:
        return False


UNDEFINED: Final[_Undefined] = _Undefined()


class IotSqlError(ValueError):
    """The rule's SQL is not valid, or uses syntax this evaluator does not support."""


@dataclass(frozen=True)
class _Message:
    topic: str
    payload: bytes
    client_id: str
    now_ms: int
    segments: list[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", self.topic.split("/"))


_Value = Any  # str | int | bool | dict | _Undefined
_Expr = Callable[[_Message], _Value]


# ---------------------------------------------------------------------------------------------- tokens

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'[^']*')
  | (?P<number>\d+)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><>|[=(),*])
    """,
    re.VERBOSE,
)
_KEYWORDS = frozenset({"SELECT", "FROM", "WHERE", "AS", "AND", "OR", "NOT", "TRUE", "FALSE"})


@dataclass(frozen=True)
class _Token:
    kind: str  # "string" | "number" | "ident" | "keyword" | "op" | "end"
    text: str
    pos: int


def _tokenize(sql: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(sql):
        m = _TOKEN_RE.match(sql, pos)
        if m is None:
            snippet = sql[pos : pos + 12]
            if sql[pos] == "'":
                raise IotSqlError(f"unterminated string literal at position {pos}: {snippet!r}")
            raise IotSqlError(f"unsupported syntax at position {pos}: {snippet!r}")
        kind = m.lastgroup or ""
        text = m.group()
        if kind == "ident" and text.upper() in _KEYWORDS:
            tokens.append(_Token("keyword", text.upper(), pos))
        elif kind != "ws":
            tokens.append(_Token(kind, text, pos))
        pos = m.end()
    tokens.append(_Token("end", "", pos))
    return tokens


# ---------------------------------------------------------------------------------------------- parser


class _Parser:
    def __init__(self, sql: str) -> None:
        self.tokens = _tokenize(sql)
        self.i = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def _fail(self, what: str) -> IotSqlError:
        t = self.tok
        found = "end of statement" if t.kind == "end" else repr(t.text)
        return IotSqlError(f"{what} at position {t.pos}, found {found}")

    def _accept(self, kind: str, text: str | None = None) -> _Token | None:
        t = self.tok
        if t.kind == kind and (text is None or t.text == text):
            self.i += 1
            return t
        return None

    def _expect(self, kind: str, text: str | None = None, what: str | None = None) -> _Token:
        t = self._accept(kind, text)
        if t is None:
            raise self._fail(f"expected {what or text or kind}")
        return t

    # statement ---------------------------------------------------------------------------------------
    def statement(self) -> tuple[list[tuple[str | None, _Expr]], str, _Expr | None]:
        self._expect("keyword", "SELECT")
        items = [self._select_item()]
        while self._accept("op", ","):
            items.append(self._select_item())
        self._expect("keyword", "FROM")
        topic_filter = _unquote(self._expect("string", what="a quoted topic filter after FROM"))
        _check_filter(topic_filter)
        where: _Expr | None = None
        if self._accept("keyword", "WHERE"):
            where = self._expr()
        if self.tok.kind != "end":
            raise self._fail("unsupported syntax")
        names = [name for name, _ in items if name is not None]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise IotSqlError(f"duplicate SELECT alias: {', '.join(dupes)}")
        return items, topic_filter, where

    def _select_item(self) -> tuple[str | None, _Expr]:
        if self._accept("op", "*"):
            return None, _star
        start = self.tok
        expr = self._expr()
        if not self._accept("keyword", "AS"):
            raise IotSqlError(
                f"SELECT item at position {start.pos} needs 'AS name' (found "
                f"{'end of statement' if self.tok.kind == 'end' else repr(self.tok.text)})"
            )
        name = self._expect("ident", what="an alias name after AS").text
        return name, expr

    # expressions (lowest to highest precedence) --------------------------------------------------------
    def _expr(self) -> _Expr:
        left = self._and()
        while self._accept("keyword", "OR"):
            left = _or(left, self._and())
        return left

    def _and(self) -> _Expr:
        left = self._not()
        while self._accept("keyword", "AND"):
            left = _and(left, self._not())
        return left

    def _not(self) -> _Expr:
        if self._accept("keyword", "NOT"):
            return _not(self._not())
        return self._comparison()

    def _comparison(self) -> _Expr:
        left = self._primary()
        if self._accept("op", "="):
            return _compare(left, self._primary(), negate=False)
        if self._accept("op", "<>"):
            return _compare(left, self._primary(), negate=True)
        return left

    def _primary(self) -> _Expr:
        t = self.tok
        if self._accept("string"):
            return _const(_unquote(t))
        if self._accept("number"):
            return _const(int(t.text))
        if self._accept("keyword", "TRUE"):
            return _const(True)
        if self._accept("keyword", "FALSE"):
            return _const(False)
        if self._accept("op", "("):
            inner = self._expr()
            self._expect("op", ")")
            return inner
        if t.kind == "ident":
            self.i += 1
            if not self._accept("op", "("):
                raise IotSqlError(f"payload field references are not supported: {t.text!r} at position {t.pos}")
            return self._call(t)
        raise self._fail("expected an expression")

    def _call(self, name_tok: _Token) -> _Expr:
        name = name_tok.text.lower()
        if name == "topic":
            if self._accept("op", ")"):
                return _topic_whole
            n = self._expect("number", what="a segment number in topic(n)")
            self._expect("op", ")")
            return _topic_segment(int(n.text))
        if name == "clientid":
            self._expect("op", ")", what="')': clientid() takes no arguments")
            return _clientid
        if name == "timestamp":
            self._expect("op", ")", what="')': timestamp() takes no arguments")
            return _timestamp
        if name == "isundefined":
            arg = self._expr()
            self._expect("op", ")")
            return _is_undefined(arg)
        if name == "encode":
            value: _Expr = _raw_payload if self._accept("op", "*") else self._expr()
            self._expect("op", ",", what="',' and an encoding in encode(value, 'base64')")
            enc = _unquote(self._expect("string", what="a quoted encoding"))
            if enc != "base64":
                raise IotSqlError(f"unsupported encoding {enc!r} in encode(): only 'base64'")
            self._expect("op", ")")
            return _encode_base64(value)
        raise IotSqlError(f"unsupported function {name_tok.text}() at position {name_tok.pos}")


def _unquote(t: _Token) -> str:
    return t.text[1:-1]


def _check_filter(topic_filter: str) -> None:
    if not topic_filter:
        raise IotSqlError("FROM topic filter is empty")
    levels = topic_filter.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            raise IotSqlError(f"invalid topic filter {topic_filter!r}: '#' must be the whole last level")
        if "+" in level and level != "+":
            raise IotSqlError(f"invalid topic filter {topic_filter!r}: '+' must be a whole level")


def topic_matches(topic: str, topic_filter: str) -> bool:
    """MQTT topic-filter matching (``+`` one level, ``#`` this level and everything below)."""
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    t_levels = topic.split("/")
    f_levels = topic_filter.split("/")
    for i, f in enumerate(f_levels):
        if f == "#":
            return True
        if i >= len(t_levels) or (f != "+" and f != t_levels[i]):
            return False
    return len(t_levels) == len(f_levels)


# ---------------------------------------------------------------------------------------------- semantics


def _const(value: _Value) -> _Expr:
    return lambda _m: value


def _topic_whole(m: _Message) -> _Value:
    return m.topic


def _topic_segment(n: int) -> _Expr:
    def ev(m: _Message) -> _Value:
        return m.segments[n - 1] if 1 <= n <= len(m.segments) else UNDEFINED

    return ev


def _clientid(m: _Message) -> _Value:
    return m.client_id


def _timestamp(m: _Message) -> _Value:
    return m.now_ms


def _raw_payload(m: _Message) -> _Value:
    return m.payload


def _star(m: _Message) -> _Value:
    try:
        doc = json.loads(m.payload)
    except ValueError:
        return UNDEFINED
    return doc if isinstance(doc, dict) else UNDEFINED


def _encode_base64(value: _Expr) -> _Expr:
    def ev(m: _Message) -> _Value:
        v = value(m)
        if isinstance(v, bytes | bytearray):
            raw = bytes(v)
        elif isinstance(v, str):
            raw = v.encode()
        elif v is UNDEFINED:
            return UNDEFINED
        else:
            raw = json.dumps(v, separators=(",", ":")).encode()
        return base64.b64encode(raw).decode("ascii")

    return ev


def _is_undefined(arg: _Expr) -> _Expr:
    return lambda m: arg(m) is UNDEFINED


def _as_bool(v: _Value) -> bool | _Undefined:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    return UNDEFINED


def _not(arg: _Expr) -> _Expr:
    def ev(m: _Message) -> _Value:
        b = _as_bool(arg(m))
        return UNDEFINED if b is UNDEFINED else not b

    return ev


def _junction(left: _Expr, right: _Expr, *, decisive: bool) -> _Expr:
    """Three-valued AND (``decisive=False``) and OR (``decisive=True``): the decisive value of either side
    wins; otherwise both must be Boolean for a Boolean answer, else Undefined."""

    def ev(m: _Message) -> _Value:
        a = _as_bool(left(m))
        if a is decisive:
            return decisive
        b = _as_bool(right(m))
        if b is decisive:
            return decisive
        return (not decisive) if (a is not UNDEFINED and b is not UNDEFINED) else UNDEFINED

    return ev


def _and(left: _Expr, right: _Expr) -> _Expr:
    return _junction(left, right, decisive=False)


def _or(left: _Expr, right: _Expr) -> _Expr:
    return _junction(left, right, decisive=True)


def _equal(a: _Value, b: _Value) -> bool | _Undefined:
    if isinstance(a, _Undefined) or isinstance(b, _Undefined):
        return UNDEFINED
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a == b) if isinstance(a, bool) and isinstance(b, bool) else UNDEFINED
    if isinstance(a, str) and isinstance(b, str):
        return bool(a == b)
    if isinstance(a, int | str) and isinstance(b, int | str):
        try:
            return Decimal(a) == Decimal(b)
        except InvalidOperation:
            return UNDEFINED
    if isinstance(a, dict) and isinstance(b, dict):
        return bool(a == b)
    return UNDEFINED


def _compare(left: _Expr, right: _Expr, *, negate: bool) -> _Expr:
    def ev(m: _Message) -> _Value:
        eq = _equal(left(m), right(m))
        if eq is UNDEFINED:
            return UNDEFINED
        return (not eq) if negate else eq

    return ev


# ---------------------------------------------------------------------------------------------- API


class Rule:
    """A compiled topic rule. Immutable and safe to share between threads."""

    __slots__ = ("_items", "_where", "sql", "topic_filter")

    def __init__(self, sql: str) -> None:
        items, topic_filter, where = _Parser(sql).statement()
        self.sql: str = sql
        self.topic_filter: str = topic_filter
        self._items = items
        self._where = where

    def __repr__(self) -> str:
        return f"Rule({self.sql!r})"

    def matches_topic(self, topic: str) -> bool:
        return topic_matches(topic, self.topic_filter)

    def evaluate(self, topic: str, payload: bytes, client_id: str, now_ms: int) -> dict[str, Any] | None:
        """The rule's output for one message, or None when FROM does not match or WHERE is not true."""
        if not topic_matches(topic, self.topic_filter):
            return None
        m = _Message(topic, bytes(payload), client_id, now_ms)
        if self._where is not None and _as_bool(self._where(m)) is not True:
            return None
        out: dict[str, Any] = {}
        for name, expr in self._items:
            value = expr(m)
            if value is UNDEFINED:
                continue
            if name is None:
                out.update(value)
            else:
                out[name] = value
        return out


def compile_rule(sql: str) -> Rule:
    """Parse an IoT SQL statement; raises :class:`IotSqlError` for invalid or unsupported syntax."""
    return Rule(sql)
