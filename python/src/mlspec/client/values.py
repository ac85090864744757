"""Plain Python values to and from ``mlspec.common.v1.Value``, in one place.

The contract's typed value has eight kinds; each maps to one Python type:

============================  =======================================
``Value`` member              Python
============================  =======================================
``null_value``                ``None``
``bool_value``                ``bool``
``int_value``                 ``int`` (64-bit signed)
``double_value``              ``float``
``string_value``              ``str``
``bytes_value``               ``bytes``
``array_value``               ``list`` (``to_value`` also takes tuples)
``object_value``              ``dict`` with ``str`` keys
============================  =======================================

numpy scalars and arrays are accepted when numpy is importable (it is never required):
``numpy.bool_`` is a bool, integer scalars are ints, floating scalars are floats and an
``ndarray`` is a (nested) list of its elements.

Example:
    >>> from mlspec.client.values import from_value, to_value
    >>> v = to_value({"auc": 0.91, "classes": ["churn", "stay"], "k": 3})
    >>> v.object_value.fields["k"].int_value
    3
    >>> from_value(v) == {"auc": 0.91, "classes": ["churn", "stay"], "k": 3}
    True
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, TypeAlias

from mlspec.common.v1 import value_pb2

PlainValue: TypeAlias = (
    "bool | int | float | str | bytes | list[PlainValue] | dict[str, PlainValue] | None"
)
"""What ``from_value`` returns (and, with tuples and numpy values, what ``to_value`` takes)."""

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def to_value(obj: Any) -> value_pb2.Value:
    """Converts a plain Python value into a ``Value``.

    Raises ``TypeError`` for a type that has no ``Value`` kind (or a dict key that is not a
    string) and ``OverflowError`` for an int outside the signed 64-bit range.

    Example:
        >>> to_value(0.5).double_value
        0.5
        >>> to_value(None).WhichOneof("kind")
        'null_value'
    """
    if isinstance(obj, value_pb2.Value):
        copy = value_pb2.Value()
        copy.CopyFrom(obj)
        return copy
    out = value_pb2.Value()
    _fill(out, obj)
    return out


def _fill(out: value_pb2.Value, obj: Any) -> None:
    # Exact type checks first: they are the common case and the cheapest.
    kind = type(obj)
    if kind is float:
        out.double_value = obj
    elif kind is bool:
        out.bool_value = obj
    elif kind is int:
        out.int_value = _int64(obj)
    elif kind is str:
        out.string_value = obj
    elif obj is None:
        out.null_value = value_pb2.NULL_VALUE_UNSPECIFIED
    elif isinstance(obj, value_pb2.Value):
        out.CopyFrom(obj)
    elif isinstance(obj, (bytes, bytearray, memoryview)):
        out.bytes_value = bytes(obj)
    elif isinstance(obj, bool):
        out.bool_value = obj
    elif isinstance(obj, int):
        out.int_value = _int64(int(obj))
    elif isinstance(obj, float):
        out.double_value = float(obj)
    elif isinstance(obj, str):
        out.string_value = str(obj)
    elif isinstance(obj, Mapping):
        fields = out.object_value.fields
        out.object_value.SetInParent()  # an empty dict is still an object
        for key, item in obj.items():
            if not isinstance(key, str):
                raise TypeError(f"object keys must be str, got {type(key).__name__}")
            _fill(fields[key], item)
    elif isinstance(obj, (list, tuple)):
        array = out.array_value
        array.SetInParent()  # an empty list is still an array
        for item in obj:
            _fill(array.values.add(), item)
    elif not _fill_numpy(out, obj):
        raise TypeError(f"cannot convert {type(obj).__name__} to mlspec.common.v1.Value")


def _int64(number: int) -> int:
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise OverflowError(f"{number} is outside the signed 64-bit range of int_value")
    return number


def _fill_numpy(out: value_pb2.Value, obj: Any) -> bool:
    # numpy is optional: only look at it when the caller has already imported it.
    np = sys.modules.get("numpy")
    if np is None:
        return False
    if isinstance(obj, np.ndarray):
        _fill(out, obj.tolist())
        return True
    if isinstance(obj, np.bool_):
        out.bool_value = bool(obj)
        return True
    if isinstance(obj, np.integer):
        out.int_value = _int64(int(obj))
        return True
    if isinstance(obj, np.floating):
        out.double_value = float(obj)
        return True
    if isinstance(obj, np.generic):
        _fill(out, obj.item())
        return True
    return False


def from_value(value: value_pb2.Value) -> PlainValue:
    """Converts a ``Value`` back into a plain Python value.

    Raises ``ValueError`` for a ``Value`` with no member set (the contract's "not set",
    which is distinct from an explicit null).

    Example:
        >>> from_value(to_value([1, 2.5, "x", None]))
        [1, 2.5, 'x', None]
    """
    kind = value.WhichOneof("kind")
    if kind == "double_value":
        return value.double_value
    if kind == "int_value":
        return value.int_value
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "null_value":
        return None
    if kind == "bytes_value":
        return value.bytes_value
    if kind == "array_value":
        return [from_value(item) for item in value.array_value.values]
    if kind == "object_value":
        return {key: from_value(item) for key, item in value.object_value.fields.items()}
    raise ValueError("the Value has no member set")


def to_value_map(mapping: Mapping[str, Any]) -> dict[str, value_pb2.Value]:
    """Converts every value of a str-keyed mapping (for ``map<string, Value>`` fields).

    Example:
        >>> to_value_map({"lr": 0.1})["lr"].double_value
        0.1
    """
    return {str(key): to_value(item) for key, item in mapping.items()}


def from_value_map(mapping: Mapping[str, value_pb2.Value]) -> dict[str, PlainValue]:
    """Converts a ``map<string, Value>`` field into a plain dict.

    Example:
        >>> from_value_map({"lr": to_value(0.1)})
        {'lr': 0.1}
    """
    return {key: from_value(item) for key, item in mapping.items()}
