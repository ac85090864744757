"""The filter language of List methods (AIP-160 subset) and ``order_by``.

Shared by the domain and the store: ``parse_filter`` and ``parse_order_by`` build the
tree of ``mlspec.query.ast``; the SQL store compiles it, the domain evaluates it on
messages. ``parse_time_micros`` reads the RFC 3339 values a filter compares times with.
"""

from mlspec.query.ast import And, Comparison, Newest, Node, Not, Or, OrderKey
from mlspec.query.parser import parse_filter, parse_order_by
from mlspec.query.values import parse_time_micros

__all__ = [
    "And",
    "Comparison",
    "Newest",
    "Node",
    "Not",
    "Or",
    "OrderKey",
    "parse_filter",
    "parse_order_by",
    "parse_time_micros",
]
