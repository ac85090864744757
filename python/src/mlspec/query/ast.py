"""The filter language's syntax tree, shared by the parser, the SQL store and the domain."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True)
class Comparison:
    """``member op value``; ``value`` is ``None`` for a presence test (``:*``)."""

    member: tuple[str, ...]
    op: str
    value: str | None
    quoted: bool = False


@dataclass(frozen=True)
class And:
    """All operands hold."""

    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """At least one operand holds."""

    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    """The operand does not hold."""

    operand: Node


@dataclass(frozen=True)
class Newest:
    """No later resource of the kind shares the ``partition`` members (and the scope).

    Not written in filters: List methods build it for their request fields (the latest
    version of each pipeline series, the latest attempt of each step). ``partition``
    names ``name`` or indexed members; ``statuses`` limits the later resources that
    count (empty: any); with ``same_scope`` only those of the same scope count.
    """

    partition: tuple[str, ...]
    statuses: tuple[int, ...] = ()
    same_scope: bool = True


Node = Union[Comparison, And, Or, Not, Newest]  # noqa: UP007 - runtime alias


@dataclass(frozen=True)
class OrderKey:
    """One ``order_by`` key: a member and whether it sorts descending."""

    member: str
    descending: bool = False
