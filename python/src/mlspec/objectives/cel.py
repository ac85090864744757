"""The ``cel`` dialect: parsed by cel-python, checked here, evaluated by cel-python.

cel-python evaluates dynamically and reports no type errors before it runs, so
``check`` walks its parse tree with the types of the objective variables (metric maps
of doubles, slice maps, the objectives map) and refuses, with the position, unknown
variables and metrics, malformed slice names, unknown objective ids, operands of the
wrong type, a result that is not a bool, and the parts of CEL that objectives do not
need (lists, maps, messages, method calls). It returns the values the expression reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import celpy
import lark
from celpy.celparser import CELParseError

from mlspec.objectives.dialect import Declarations
from mlspec.objectives.syntax import ExpressionError, Position

__all__ = ["Reference", "check", "environment", "is_slice_name", "program"]

DOUBLE, INT, UINT, BOOL, STRING, BYTES, NULL = (
    "double",
    "int",
    "uint",
    "bool",
    "string",
    "bytes",
    "null",
)
# The variables' own types.
METRICS, SLICES, OBJECTIVES = (
    "map(string, double)",
    "map(string, map(string, double))",
    "map(string, bool)",
)
_NUMBERS = frozenset({DOUBLE, INT, UINT})
_LITERALS = {
    "INT_LIT": INT,
    "UINT_LIT": UINT,
    "FLOAT_LIT": DOUBLE,
    "STRING_LIT": STRING,
    "MLSTRING_LIT": STRING,
    "BYTES_LIT": BYTES,
    "BOOL_LIT": BOOL,
    "NULL_LIT": NULL,
}
_RELATIONS = {
    "relation_lt": "<",
    "relation_le": "<=",
    "relation_gt": ">",
    "relation_ge": ">=",
    "relation_eq": "==",
    "relation_ne": "!=",
    "relation_in": "in",
}
_ARITHMETIC = {
    "addition_add": "+",
    "addition_sub": "-",
    "multiplication_mul": "*",
    "multiplication_div": "/",
    "multiplication_mod": "%",
}


@dataclass(frozen=True)
class Reference:
    """A value an expression reads: a metric on a slice, of the candidate or the baseline."""

    metric: str
    slice: str = ""
    baseline: bool = False
    # False for a value read only inside has(): its absence is expected.
    required: bool = True

    @property
    def variable(self) -> str:
        """The value as written in ``mlspec-objective/v1``: ``auc``, ``recall[segment=new]``."""
        return f"{self.metric}[{self.slice}]" if self.slice else self.metric


@dataclass(frozen=True)
class _Typed:
    """The type of a subexpression, and what it stands for when that is known."""

    type: str
    baseline: bool = False  # a metrics or slices map of the baseline
    slice: str | None = None  # the slice of a metrics map (None: not a metrics map)
    text: str | None = None  # the value of a string literal


# Made at import: cel-python raises the interpreter's recursion limit when an environment
# is made, and doing that once, up front, keeps it out of the middle of a caller's work.
_ENVIRONMENT = celpy.Environment()


def environment() -> celpy.Environment:
    """The one CEL environment."""
    return _ENVIRONMENT


@cache
def program(text: str) -> celpy.Runner:
    """The compiled program of a checked CEL text (cached: objective sets are few)."""
    env = environment()
    return env.program(env.compile(text))


def is_slice_name(name: str) -> bool:
    """Whether ``name`` is ``key=value`` pairs sorted by key with distinct keys."""
    keys = []
    for pair in name.split(","):
        key, equals, value = pair.partition("=")
        if not key or not equals or not value:
            return False
        keys.append(key)
    return keys == sorted(set(keys))


def check(text: str, declared: Declarations) -> tuple[tuple[Reference, ...], bool]:
    """The values a CEL expression reads and whether it tests presence with has().

    ExpressionError (with the position) when the expression is invalid.
    """
    if not text.strip():
        raise ExpressionError(Position(1, 1), "the expression is empty")
    try:
        tree = environment().compile(text)
    except CELParseError as exc:
        line, column = getattr(exc, "line", None) or 1, getattr(exc, "column", None) or 1
        rows = text.split("\n")
        rest = rows[line - 1][column - 1 :] if line <= len(rows) else ""
        near = f"unexpected {rest[:12]!r}" if rest.strip() else "unexpected end of the expression"
        raise ExpressionError(Position(line, column), f"CEL syntax error: {near}") from None
    walker = _Checker(declared)
    result = walker.type(tree)
    if result.type != BOOL:
        raise ExpressionError(
            _position(tree), f"the expression is a {result.type}; an objective is a bool"
        )
    return tuple(dict.fromkeys(walker.references)), walker.guarded


def _first_token(tree: lark.Tree[lark.Token] | lark.Token) -> lark.Token | None:
    if isinstance(tree, lark.Token):
        return tree
    for child in tree.children:
        token = _first_token(child)
        if token is not None:
            return token
    return None


def _position(tree: lark.Tree[lark.Token] | lark.Token) -> Position:
    token = _first_token(tree)
    if token is None or token.line is None or token.column is None:
        return Position(1, 1)
    return Position(token.line, token.column)


class _Checker:
    """Types a cel-python parse tree (the rule names are those of its cel.lark)."""

    def __init__(self, declared: Declarations) -> None:
        self.declared = declared
        self.references: list[Reference] = []
        self.optional = 0  # > 0 inside has()
        self.guarded = False  # has() was used

    def fail(self, tree: lark.Tree[lark.Token] | lark.Token, problem: str) -> ExpressionError:
        return ExpressionError(_position(tree), problem)

    def subtrees(self, tree: lark.Tree[lark.Token]) -> Iterator[lark.Tree[lark.Token]]:
        for child in tree.children:
            if isinstance(child, lark.Tree):
                yield child

    def type(self, tree: lark.Tree[lark.Token]) -> _Typed:
        rule = tree.data
        kids = list(self.subtrees(tree))
        if rule == "expr":
            if len(kids) == 1:
                return self.type(kids[0])
            condition, yes, no = (self.type(k) for k in kids)
            if condition.type != BOOL:
                raise self.fail(kids[0], f"'? :' needs a bool condition, not a {condition.type}")
            if yes.type != no.type:
                raise self.fail(kids[1], f"'? :' has a {yes.type} and a {no.type} branch")
            return _Typed(yes.type)
        if rule in ("conditionalor", "conditionaland"):
            if len(kids) == 1:
                return self.type(kids[0])
            operator = "||" if rule == "conditionalor" else "&&"
            for kid in kids:
                found = self.type(kid)
                if found.type != BOOL:
                    raise self.fail(kid, f"'{operator}' needs bools, not a {found.type}")
            return _Typed(BOOL)
        if rule == "relation":
            if len(kids) == 1:
                return self.type(kids[0])
            return self.relation(kids[0], kids[1])
        if rule in ("addition", "multiplication"):
            if len(kids) == 1:
                return self.type(kids[0])
            return self.arithmetic(kids[0], kids[1])
        if rule == "unary":
            return self.unary(tree, kids)
        if rule == "member":
            return self.type(kids[0])
        if rule == "member_dot":
            field = tree.children[1]
            assert isinstance(field, lark.Token)
            return self.select(tree, self.type(kids[0]), str(field))
        if rule == "member_index":
            base = self.type(kids[0])
            key = self.type(kids[1])
            if key.type != STRING:
                raise self.fail(kids[1], f"map keys are strings, not a {key.type}")
            if key.text is None:  # computed key: the type is known, the name is not
                return self.select(tree, base, None)
            return self.select(tree, base, key.text)
        if rule == "primary":
            return self.type(kids[0])
        if rule == "paren_expr":
            return self.type(kids[0])
        if rule == "literal":
            token = tree.children[0]
            assert isinstance(token, lark.Token)
            kind = _LITERALS[token.type]
            text = None
            if kind == STRING:
                text = str(program(str(token)).evaluate({}))
            return _Typed(kind, text=text)
        if rule == "ident":
            token = tree.children[0]
            assert isinstance(token, lark.Token)
            return self.ident(tree, str(token))
        if rule == "ident_arg":
            return self.call(tree, kids)
        raise self.fail(tree, f"{_describe(rule)} is not supported in objective expressions")

    def relation(
        self, operation: lark.Tree[lark.Token], right_tree: lark.Tree[lark.Token]
    ) -> _Typed:
        operator = _RELATIONS[operation.data]
        (left_tree,) = self.subtrees(operation)
        left, right = self.type(left_tree), self.type(right_tree)
        if operator == "in":
            if left.type != STRING or right.type not in (METRICS, SLICES, OBJECTIVES):
                raise self.fail(operation, "'in' tests a string key in a map")
            return _Typed(BOOL)
        comparable = (left.type in _NUMBERS and right.type in _NUMBERS) or (
            left.type == right.type and left.type in (STRING, BOOL, BYTES)
        )
        if operator not in ("==", "!=") and left.type == BOOL:
            comparable = False
        if not comparable:
            raise self.fail(
                operation, f"'{operator}' cannot compare a {left.type} with a {right.type}"
            )
        return _Typed(BOOL)

    def arithmetic(
        self, operation: lark.Tree[lark.Token], right_tree: lark.Tree[lark.Token]
    ) -> _Typed:
        operator = _ARITHMETIC[operation.data]
        (left_tree,) = self.subtrees(operation)
        left, right = self.type(left_tree), self.type(right_tree)
        if operator == "+" and left.type == right.type == STRING:
            return _Typed(STRING)
        if left.type not in _NUMBERS or right.type not in _NUMBERS:
            raise self.fail(
                operation, f"'{operator}' needs numbers, not a {left.type} and a {right.type}"
            )
        if left.type != right.type:
            raise self.fail(
                operation,
                f"CEL does not mix {left.type} and {right.type} in '{operator}'; write a double "
                "literal such as 50.0 (or convert with double())",
            )
        if operator == "%" and left.type == DOUBLE:
            raise self.fail(operation, "'%' needs ints, not doubles")
        return _Typed(left.type)

    def unary(self, tree: lark.Tree[lark.Token], kids: list[lark.Tree[lark.Token]]) -> _Typed:
        if len(kids) == 1:
            return self.type(kids[0])
        operation, operand_tree = kids
        operand = self.type(operand_tree)
        if operation.data == "unary_not":
            if operand.type != BOOL:
                raise self.fail(tree, f"'!' needs a bool, not a {operand.type}")
            return _Typed(BOOL)
        if operand.type not in (DOUBLE, INT):
            raise self.fail(tree, f"'-' needs a number, not a {operand.type}")
        return _Typed(operand.type)

    def ident(self, tree: lark.Tree[lark.Token], name: str) -> _Typed:
        if name in ("metrics", "baseline"):
            return _Typed(METRICS, baseline=name == "baseline", slice="")
        if name in ("slices", "baseline_slices"):
            return _Typed(SLICES, baseline=name == "baseline_slices")
        if name == "objectives":
            if self.declared.objective_ids is None:
                raise self.fail(tree, "'objectives' is only for the launch criteria's expression")
            return _Typed(OBJECTIVES)
        if name in self.declared.metrics:
            self.read(name, "", baseline=False)
            return _Typed(DOUBLE)
        raise self.fail(tree, f"unknown variable {name!r}")

    def select(self, tree: lark.Tree[lark.Token], base: _Typed, key: str | None) -> _Typed:
        """``base.key`` or ``base[key]`` (``key`` None: a computed key)."""
        if base.type == METRICS:
            if key is not None:
                if key not in self.declared.metrics:
                    known = ", ".join(sorted(self.declared.metrics)) or "none"
                    raise self.fail(
                        tree, f"unknown metric {key!r} (the objective set declares {known})"
                    )
                self.read(key, base.slice or "", baseline=base.baseline)
            return _Typed(DOUBLE)
        if base.type == SLICES:
            if key is not None and not is_slice_name(key):
                raise self.fail(
                    tree,
                    f"{key!r} is not a slice name: write key=value pairs sorted by key, joined "
                    'by commas, for example "age_group=65+"',
                )
            return _Typed(METRICS, baseline=base.baseline, slice=key)
        if base.type == OBJECTIVES:
            ids = self.declared.objective_ids or frozenset()
            if key is not None and key not in ids:
                raise self.fail(tree, f"unknown objective id {key!r}")
            return _Typed(BOOL)
        raise self.fail(tree, f"a {base.type} has no fields or keys")

    def read(self, metric: str, slice_: str, *, baseline: bool) -> None:
        self.references.append(Reference(metric, slice_, baseline, self.optional == 0))

    def call(self, tree: lark.Tree[lark.Token], kids: list[lark.Tree[lark.Token]]) -> _Typed:
        name_token = tree.children[0]
        assert isinstance(name_token, lark.Token)
        name = str(name_token)
        arguments = list(self.subtrees(kids[0])) if kids else []
        if name == "has" and len(arguments) == 1:
            if not _is_selection(arguments[0]):
                raise self.fail(tree, "has() takes a field selection, for example has(metrics.auc)")
            self.optional += 1
            self.guarded = True
            try:
                self.type(arguments[0])
            finally:
                self.optional -= 1
            return _Typed(BOOL)
        if name == "double" and len(arguments) == 1:
            found = self.type(arguments[0])
            if found.type not in _NUMBERS:
                raise self.fail(tree, f"double() converts numbers, not a {found.type}")
            return _Typed(DOUBLE)
        raise self.fail(
            tree,
            f"function {name}() is not available in objective expressions (has and double are)",
        )


def _is_selection(tree: lark.Tree[lark.Token]) -> bool:
    """Whether an expression tree is, through its single-child wrappers, a ``a.b`` selection."""
    node: lark.Tree[lark.Token] = tree
    while True:
        if node.data == "member_dot":
            return True
        subtrees = [c for c in node.children if isinstance(c, lark.Tree)]
        if len(subtrees) != 1 or len(node.children) != 1:
            return False
        node = subtrees[0]


def _describe(rule: str) -> str:
    return {
        "list_lit": "a list",
        "map_lit": "a map",
        "member_object": "a message",
        "member_dot_arg": "a method call",
        "dot_ident": "a leading-dot name",
        "dot_ident_arg": "a leading-dot call",
    }.get(rule, rule)
