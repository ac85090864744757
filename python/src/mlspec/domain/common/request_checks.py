"""The one pass over every decoded request: within its limits and well formed.

Before any handler runs, every request is checked against the limits of
``common/v1/limits.proto`` (``limits``) and for values that their types do not allow
(``well_formed``). Both rules are specified by walks that name each offending field.
This module runs the two as one pass, compiled once per message type into straight-line
code, that only answers whether a request passes both: nearly every request does, and
the walks then run only to name the fields of one that does not.

The pass reads what it must and no more: the checked values (enum numbers, Timestamps,
Durations) wherever they can be; a string's length or a list's count only where its
limit is below the bound the pass has on the size of the message holding it (a value
over a limit of n takes more than n bytes); an item's own size only where a limit
inside it may be below that bound; and every message of a type that nests within
itself (``Value``), to count how deep it nests.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from google.protobuf import descriptor
from google.protobuf.message import Message

from mlspec.domain.common import limits, well_formed
from mlspec.domain.common.compiled import CompiledChecks

FD = descriptor.FieldDescriptor
_TEXT = (FD.TYPE_STRING, FD.TYPE_BYTES)


def passes(message: Message, size: int | None = None) -> bool:
    """Whether ``message`` is within every limit and holds only well-formed values.

    ``size`` is its serialized size when known. True means ``limits.violations`` and
    ``well_formed.violations`` would both find nothing.
    """
    bound = message.ByteSize() if size is None else size
    return bool(_compiled(message.DESCRIPTOR)(message, bound, {}))


# A type's check: ``check(m, S, nest)`` where ``S`` bounds the serialized size of ``m``
# and ``nest`` counts, per type that nests within itself, the messages of that type on
# the way down (as ``limits`` counts them). The checks of singular sub-messages of types
# that cannot hold themselves are written inline; lists, maps and recursive types call
# their type's check.
def _build(desc: Any) -> Any:
    env: dict[str, Any] = {
        "MIN_S": well_formed.TIME_SECONDS[0],
        "MAX_S": well_formed.TIME_SECONDS[1],
        "MAX_D": well_formed.MAX_DURATION_SECONDS,
        "NANOS": well_formed.MAX_NANOS,
        "MAX_NESTING": limits.MAX_NESTING,
        "NAME": desc.full_name,
        "PROBLEM": well_formed.problem,
    }
    calls: dict[str, Any] = {}
    lines = ["def check(m, S, nest):"]
    counted = limits.self_nesting(desc)
    if counted:  # the messages below count this one among their ancestors
        lines += [
            "    level = nest.get(NAME, 0) + 1",
            "    if level > MAX_NESTING:",
            "        return False",
            "    nest[NAME] = level",
        ]
    lines += _body(desc, "m", "    ", env, calls, frozenset({desc.full_name}))
    if counted:
        lines.append("    nest[NAME] = level - 1")
    lines.append("    return True")
    exec("\n".join(lines), env)  # noqa: S102  (code built from descriptors, not input)
    check = env["check"]
    _compiled.building(desc, check)  # before the callees: recursive types find it
    for alias, child in calls.items():
        env[alias] = _compiled(child)
    return check


_compiled = CompiledChecks(_build)
Parts = list[tuple[int, list[str]]]


def _body(
    desc: Any,
    var: str,
    at: str,
    env: dict[str, Any],
    calls: dict[str, Any],
    inside: frozenset[str],
) -> list[str]:
    """The lines checking message ``var`` of type ``desc``, indented by ``at``."""
    fields = [f for f in desc.fields if _field_parts(desc, f, var, False, env, calls, inside)]
    oneofs = {f.containing_oneof for f in fields}
    only = next(iter(oneofs)) if len(oneofs) == 1 else None
    if only is not None and not only.name.startswith("_") and len(fields) > 1:
        # Every field with something to check is in one oneof (a Value): ask which is set.
        lines = [f"{at}w_{var} = {var}.WhichOneof({only.name!r})"]
        for number, field in enumerate(fields):
            lines.append(f"{at}{'elif' if number else 'if'} w_{var} == {field.name!r}:")
            parts = _field_parts(desc, field, var, True, env, calls, inside)
            lines += _grouped(parts, at + "    ")
        return lines
    parts = [p for f in fields for p in _field_parts(desc, f, var, False, env, calls, inside)]
    return _grouped(parts, at)


def _grouped(parts: Parts, at: str) -> list[str]:
    """Parts' lines, those that run only above a size bound grouped under one test each."""
    lines: list[str] = []
    for bound in sorted({bound for bound, _ in parts}):
        group = [line for b, part in parts if b == bound for line in part]
        if bound == 0:
            lines += [f"{at}{line}" for line in group]
        else:
            lines.append(f"{at}if S > {bound}:")
            lines += [f"{at}    {line}" for line in group]
    return lines


def _field_parts(
    desc: Any,
    field: FD,
    var: str,
    selected: bool,
    env: dict[str, Any],
    calls: dict[str, Any],
    inside: frozenset[str],
) -> Parts:
    """The checks of one field, each with the size bound it runs above (0: always).

    ``selected``: the lines run only when the field is the member of its oneof that is set.
    """
    limit = limits.limit_of(field)
    entry = field.message_type.fields_by_name["value"] if limit.is_map else field  # type: ignore[union-attr]
    kind = well_formed.checked_kind(field)
    child = entry.message_type if not kind else None
    always = False
    if child is not None:
        always = limits.nests(child) or field.name in well_formed.descended(desc)
        if not always and limits.floor(child) >= limits.MAX_REQUEST_BYTES:
            child = None  # nothing inside can break a rule
    text = entry.message_type is None and entry.type in _TEXT
    name = f"{var}.{field.name}"
    items, length = limit.max_items, limit.max_length
    parts: Parts = []
    if limit.is_map or limit.repeated:
        parts.append((items, [f"if len({name}) > {items}:", "    return False"]))
    if limit.is_map:
        # A map's values are read by key: much cheaper than through ``items()``.
        per_entry: Parts = []
        if limit.key_is_string:
            per_entry.append((length, [f"if len(k) > {length}:", "    return False"]))
        if text:
            per_entry.append((length, [f"if len(d[k]) > {length}:", "    return False"]))
        if kind:
            per_entry.append((0, _value_test(field, kind, "d[k]", env)))
        if child is not None:
            check = f"if not {_call(child, calls)}(d[k], S, nest):"
            per_entry.append((0 if always else limits.floor(child), [check, "    return False"]))
        if per_entry:
            lowest = min(bound for bound, _ in per_entry)
            inner = [(0 if b == lowest else b, part) for b, part in per_entry]
            loop = [f"d = {name}", "for k in d:", *_grouped(inner, "    ")]
            parts.append((lowest, loop))
        return parts
    if limit.repeated:
        if text:
            loop = [f"for x in {name}:", f"    if len(x) > {length}:", "        return False"]
            parts.append((length, loop))
        if kind:
            parts.append((0, [f"for x in {name}:", *_indent(_value_test(field, kind, "x", env))]))
        if child is not None:
            alias = _call(child, calls)
            small = limits.floor(child)
            if small < limits.MAX_REQUEST_BYTES:
                # An item is bounded by its own size where a limit inside it may be below
                # the whole's bound: a small item then skips every length check.
                loop = [f"for x in {name}:", f"    if not {alias}(x, x.ByteSize(), nest):"]
                parts.append((small, [*loop, "        return False"]))
            if always:
                loop = [f"for x in {name}:", f"    if not {alias}(x, S, nest):"]
                if small < limits.MAX_REQUEST_BYTES:
                    loop = [f"if S <= {small}:", *_indent(loop), "            return False"]
                else:
                    loop.append("        return False")
                parts.append((0, loop))
        return parts
    if text:
        parts.append((length, [f"if len({name}) > {length}:", "    return False"]))
    if kind:
        value = _value_test(field, kind, name, env)
        if field.message_type is not None and not selected:
            value = [f"if {var}.HasField({field.name!r}):", *_indent(value)]
        parts.append((0, value))
    if child is None:
        return parts
    bound = 0 if always else limits.floor(child)
    if child.full_name in inside or _recursive(child):
        fails = f"not {_call(child, calls)}({name}, S, nest)"
        if not selected:
            fails = f"{var}.HasField({field.name!r}) and {fails}"
        parts.append((bound, [f"if {fails}:", "    return False"]))
        return parts
    # A singular sub-message of a type that cannot hold itself: checked inline.
    sub = f"{var}_{field.number}"
    below = _body(child, sub, "", env, calls, inside | {child.full_name})
    if below:
        block = [f"{sub} = {name}", *below]
        if not selected:
            block = [f"if {var}.HasField({field.name!r}):", *_indent(block)]
        parts.append((bound, block))
    return parts


def _indent(lines: list[str]) -> list[str]:
    """``lines`` one level deeper."""
    return [f"    {line}" for line in lines]


def _call(child: Any, calls: dict[str, Any]) -> str:
    """The name the code calls ``child``'s check by (bound once the code is compiled)."""
    alias = "C_" + str(child.full_name).replace(".", "_")
    calls[alias] = child
    return alias


def _value_test(field: FD, kind: str, value: str, env: dict[str, Any]) -> list[str]:
    """The lines testing one checked value: an enum number, a Timestamp or a Duration."""
    if kind == "enum":
        entry = field.message_type.fields_by_name["value"] if limits.is_map(field) else field  # type: ignore[union-attr]
        enum = entry.enum_type
        assert enum is not None
        alias = "E_" + enum.full_name.replace(".", "_")
        env[alias] = frozenset(enum.values_by_number)
        return [f"if {value} not in {alias}:", "    return False"]
    if kind == "timestamp":
        return [
            f"v = {value}",
            "if not (MIN_S <= v.seconds <= MAX_S and 0 <= v.nanos <= NANOS):",
            "    return False",
        ]
    if kind == "duration":
        return [
            f"v = {value}",
            "s = v.seconds",
            "n = v.nanos",
            "if not (-MAX_D <= s <= MAX_D and -NANOS <= n <= NANOS"
            " and (s == 0 or n == 0 or (s > 0) == (n > 0))):",
            "    return False",
        ]
    # A kind of value this pass does not write inline: ask the rule itself.
    alias = f"F_{id(field)}"
    env[alias] = field
    return [f"if PROBLEM({alias}, {kind!r}, {value}):", "    return False"]


@cache
def _recursive(desc: Any) -> bool:
    """Whether a message of ``desc`` can hold a message of its own type."""
    pending, seen = [desc], set()
    while pending:
        for field in pending.pop().fields:
            entry = field.message_type.fields_by_name["value"] if limits.is_map(field) else field
            child = entry.message_type
            if child is None or child.full_name in seen:
                continue
            if child.full_name == desc.full_name:
                return True
            seen.add(child.full_name)
            pending.append(child)
    return False
