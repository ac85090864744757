"""The parser of the AIP-160 filter subset that List methods accept, and of ``order_by``.

Grammar (whitespace separates tokens; keywords are upper case)::

    filter     := and_expr
    and_expr   := or_expr (["AND"] or_expr)*      juxtaposition means AND
    or_expr    := unary ("OR" unary)*             OR binds tighter than AND (AIP-160)
    unary      := ("NOT" | "-") unary | primary   `-x` is `NOT x`
    primary    := "(" and_expr ")" | comparison
    comparison := member op value
    member     := segment ("." segment)*          segment: identifier or quoted string
    op         := "=" | "!=" | "<" | ">" | "<=" | ">=" | ":"
    value      := quoted string | number | word | "*"

``labels:env`` and ``labels.env:*`` test that a label is present. The parser only builds
a tree (``mlspec.query.ast``); which members exist and how they compare is decided by
its consumers: the SQL store translates it to SQL with bound parameters, and
``mlspec.domain.message_filter`` evaluates it on decoded messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlspec.errors import invalid
from mlspec.query.ast import And, Comparison, Node, Not, Or, OrderKey

MAX_FILTER_LENGTH = 4096
MAX_DEPTH = 32


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op><=|>=|!=|=|<|>|:)
      | (?P<paren>[()])
      | (?P<dot>\.)
      | (?P<word>[^\s()<>=!:."']+)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    pos: int


def _tokenize(text: str) -> list[_Token]:
    tokens = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise invalid("filter", f"unexpected character {text[pos]!r} at offset {pos}")
        kind = match.lastgroup or ""
        tokens.append(_Token(kind, match.group(kind), match.start(kind)))
        pos = match.end()
    return tokens


def _unquote(raw: str) -> str:
    body = raw[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise invalid("filter", "unexpected end of filter")
        self.i += 1
        return token

    def is_word(self, word: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "word" and token.text == word

    def parse(self) -> Node:
        node = self.and_expr()
        token = self.peek()
        if token is not None:
            raise invalid("filter", f"unexpected {token.text!r} at offset {token.pos}")
        return node

    def and_expr(self) -> Node:
        operands = [self.or_expr()]
        while True:
            token = self.peek()
            if token is None or (token.kind == "paren" and token.text == ")"):
                break
            if self.is_word("AND"):
                self.take()
            operands.append(self.or_expr())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def or_expr(self) -> Node:
        operands = [self.unary()]
        while self.is_word("OR"):
            self.take()
            operands.append(self.unary())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def unary(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise invalid("filter", f"nested deeper than {MAX_DEPTH} levels")
        try:
            if self.is_word("NOT") or self.is_word("-"):
                self.take()
                return Not(self.unary())
            token = self.peek()
            if token is not None and token.kind == "word" and token.text.startswith("-"):
                # `-labels:env`: a leading minus on a member negates the comparison.
                self.tokens[self.i] = _Token("word", token.text[1:], token.pos + 1)
                return Not(self.unary())
            token = self.peek()
            if token is not None and token.kind == "paren" and token.text == "(":
                self.take()
                node = self.and_expr()
                closing = self.take()
                if closing.text != ")":
                    raise invalid("filter", f"expected ')' at offset {closing.pos}")
                return node
            return self.comparison()
        finally:
            self.depth -= 1

    def segment(self) -> str:
        token = self.take()
        if token.kind == "word" and token.text not in ("AND", "OR", "NOT"):
            return token.text
        if token.kind == "string":
            return _unquote(token.text)
        raise invalid("filter", f"expected a field name at offset {token.pos}, got {token.text!r}")

    def comparison(self) -> Node:
        member = [self.segment()]
        while (token := self.peek()) is not None and token.kind == "dot":
            self.take()
            member.append(self.segment())
        op = self.take()
        if op.kind != "op":
            raise invalid(
                "filter", f"expected an operator after {'.'.join(member)!r} at offset {op.pos}"
            )
        value = self.take()
        if value.kind == "string":
            return Comparison(tuple(member), op.text, _unquote(value.text), quoted=True)
        if value.kind != "word":
            raise invalid("filter", f"expected a value at offset {value.pos}, got {value.text!r}")
        # A bare word may continue with dots (a number like 0.5 or an enum path).
        text = value.text
        while (token := self.peek()) is not None and token.kind == "dot":
            self.take()
            text += "." + self.take().text
        if text == "*":
            if op.text != ":":
                raise invalid("filter", "'*' is only allowed after ':' (presence test)")
            return Comparison(tuple(member), ":", None)
        return Comparison(tuple(member), op.text, text)


def parse_filter(text: str) -> Node | None:
    """Parses a filter string; returns ``None`` for an empty filter.

    Raises ``InvalidArgument`` (field ``filter``) for anything that is not in the grammar.
    """
    if len(text) > MAX_FILTER_LENGTH:
        raise invalid("filter", f"is longer than {MAX_FILTER_LENGTH} characters")
    if "\x00" in text:
        raise invalid("filter", "must not contain NUL characters")
    tokens = _tokenize(text)
    if not tokens:
        return None
    return _Parser(tokens).parse()


def parse_order_by(text: str) -> list[OrderKey]:
    """Parses ``"create_time desc, name"``; raises ``InvalidArgument`` on bad syntax."""
    keys = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            if text.strip():
                raise invalid("order_by", "empty sort key")
            continue
        words = part.split()
        if len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise invalid("order_by", f"cannot parse sort key {part!r}")
        if not re.fullmatch(r"[a-z_][a-z0-9_.]*", words[0]):
            raise invalid("order_by", f"{words[0]!r} is not a field name")
        keys.append(OrderKey(words[0], len(words) == 2 and words[1].lower() == "desc"))
    return keys
