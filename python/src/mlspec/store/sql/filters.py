"""The filter language compiled to SQL: a condition over ``resources`` with bound parameters.

Built-in members (``name``, ``status``, ``create_time``, ``update_time``) are columns of
``resources``; labels and per-kind members are rows of ``resource_fields`` tested with
``EXISTS``, and so are the members of a family (``metrics.auc`` of ``metrics.*``: a
quoted literal compares the text, a number or ``true``/``false`` the number). ``FilterCompiler.driver`` finds an equality that lets a page be read through
the field index in ``seq`` order.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import ColumnElement, and_, exists, not_, or_, select, true

from mlspec import errors
from mlspec.common.v1 import object_meta_pb2
from mlspec.query import And, Comparison, Newest, Node, Not, Or, parse_time_micros
from mlspec.store.api import FieldSpec
from mlspec.store.sql.schema import resource_fields, resources

# The filter-index rows a page is read through (see ResourceStatements.list_page).
DRIVER = resource_fields.alias("driver")


# Presence tests name the value column the row must have: the field indexes are partial
# (a row holds a text or a number), and only a condition implying one of them lets the
# database use them for a bare (kind, key) look-up.
_HAS_TEXT = resource_fields.c.value_text.is_not(None)
_HAS_NUMBER = resource_fields.c.value_num.is_not(None)


class FilterCompiler:
    """Translates a filter tree into a SQL condition with bound parameters."""

    BUILTIN_TEXT: ClassVar[dict[str, Any]] = {"name": resources.c.name_lower}
    BUILTIN_TIME: ClassVar[dict[str, Any]] = {
        "create_time": resources.c.create_time,
        "update_time": resources.c.update_time,
    }

    def __init__(self, kind: int, members: dict[str, FieldSpec]) -> None:
        self.kind = kind
        self.members = members

    def compile(self, node: Node) -> ColumnElement[bool]:
        if isinstance(node, And):
            return and_(*(self.compile(n) for n in node.operands))
        if isinstance(node, Or):
            return or_(*(self.compile(n) for n in node.operands))
        if isinstance(node, Not):
            return not_(self.compile(node.operand))
        if isinstance(node, Newest):
            return self.newest(node)
        return self.comparison(node)

    def newest(self, node: Newest) -> ColumnElement[bool]:
        """No later resource of the kind (and scope) has the same partition values."""
        later = resources.alias("later")
        conditions: list[ColumnElement[bool]] = [
            later.c.workspace == resources.c.workspace,
            later.c.kind == resources.c.kind,
            later.c.seq > resources.c.seq,
        ]
        if node.same_scope:
            conditions.append(later.c.scope == resources.c.scope)
        if node.statuses:
            conditions.append(later.c.status.in_(list(node.statuses)))
        for member in node.partition:
            if member == "name":
                conditions.append(later.c.name_lower == resources.c.name_lower)
                continue
            spec = self.spec(member)
            text = spec is not None and spec.kind == "text"
            column = resource_fields.c.value_text if text else resource_fields.c.value_num
            mine, theirs = (
                select(column)
                .where(resource_fields.c.resource_seq == owner, resource_fields.c.key == member)
                .limit(1)
                .scalar_subquery()
                for owner in (resources.c.seq, later.c.seq)
            )
            conditions.append(theirs.is_not_distinct_from(mine))
        return not_(exists().where(*conditions))

    def comparison(self, node: Comparison) -> ColumnElement[bool]:
        of_meta = node.member[0] == "meta" and len(node.member) > 1
        if of_meta:
            # `meta.name`, `meta.labels.x`, ... address the common object fields.
            node = Comparison(node.member[1:], node.op, node.value, node.quoted)
        member = ".".join(node.member)
        if member == "status" and not of_meta and "status" in self.members:
            # A kind with a status of its own (a stage report's outcome): bare `status` is
            # that one; the object's ACTIVE/DEPRECATED/ARCHIVED is `meta.status`.
            return self.field(member, self.members[member], node)
        if node.member[0] == "labels":
            return self.label(node)
        if node.value is None and member in ("name", "status", *self.BUILTIN_TIME):
            # `name:*` holds for named resources; every resource has times and a status.
            if member == "name":
                return resources.c.name_lower.is_not(None)
            return true()
        if member in self.BUILTIN_TEXT:
            return _compare(self.BUILTIN_TEXT[member], node.op, (node.value or "").lower(), member)
        if member in self.BUILTIN_TIME:
            return _compare(
                self.BUILTIN_TIME[member],
                node.op,
                parse_time_micros(node.value or "", "filter"),
                member,
            )
        if member == "status":
            return _compare(resources.c.status, node.op, _status_number(node.value or ""), member)
        spec = self.spec(member)
        if spec is None:
            known = sorted(
                ["name", "status", "create_time", "update_time", "labels.<key>", *self.members]
            )
            raise errors.invalid("filter", f"unknown field {member!r}; filterable fields: {known}")
        return self.field(member, spec, node)

    def spec(self, member: str) -> FieldSpec | None:
        """How ``member`` is stored: its own entry, or its family's (``metrics.*``)."""
        found = self.members.get(member)
        if found is None and "." in member:
            found = self.members.get(member.split(".", 1)[0] + ".*")
        return found

    def label(self, node: Comparison) -> ColumnElement[bool]:
        if len(node.member) == 1:
            if node.op != ":" or node.value is None:
                raise errors.invalid("filter", "use labels:<key> or labels.<key> = <value>")
            return self._exists(f"labels.{node.value}", _HAS_TEXT)
        key = "labels." + ".".join(node.member[1:])
        if node.value is None:
            return self._exists(key, _HAS_TEXT)
        if node.op in (":", "="):
            return self._exists(key, resource_fields.c.value_text == node.value)
        if node.op == "!=":
            return not_(self._exists(key, resource_fields.c.value_text == node.value))
        return self._exists(key, _compare(resource_fields.c.value_text, node.op, node.value, key))

    def field(self, member: str, spec: FieldSpec, node: Comparison) -> ColumnElement[bool]:
        if node.value is None:
            if spec.kind == "value":  # a family member holds a number or a text
                return self._exists(member, or_(_HAS_TEXT, _HAS_NUMBER))
            return self._exists(member, _HAS_TEXT if spec.kind == "text" else _HAS_NUMBER)
        column: Any
        value: Any
        if spec.kind == "text" or (spec.kind == "value" and _is_text(node)):
            column, value = resource_fields.c.value_text, node.value
        elif spec.kind == "enum":
            names = dict(spec.enum_values)
            match = (
                names[node.value]
                if node.value in names
                else next((v for n, v in spec.enum_values if n.endswith("_" + node.value)), None)
            )
            if match is None:
                raise errors.invalid("filter", f"{node.value!r} is not a value of {member}")
            column, value = resource_fields.c.value_num, float(match)
        elif spec.kind == "time":
            column, value = (
                resource_fields.c.value_num,
                float(parse_time_micros(node.value, "filter")),
            )
        elif node.value in ("true", "false") and not node.quoted:
            column, value = resource_fields.c.value_num, 1.0 if node.value == "true" else 0.0
        else:
            try:
                column, value = resource_fields.c.value_num, float(node.value)
            except ValueError as exc:
                raise errors.invalid(
                    "filter", f"{member} compares with numbers, not {node.value!r}"
                ) from exc
        op = "=" if node.op == ":" else node.op
        if op == "!=":
            return not_(self._exists(member, column == value))
        return self._exists(member, _compare(column, op, value, member))

    def driver(self, node: Node) -> list[ColumnElement[bool]] | None:
        """Conditions on resource_fields for one equality the whole filter requires.

        Returns None unless the filter is such an equality, or an AND holding one.
        """
        candidates = node.operands if isinstance(node, And) else (node,)
        for candidate in candidates:
            if (
                not isinstance(candidate, Comparison)
                or candidate.op not in ("=", ":")
                or candidate.value is None
            ):
                continue
            member = (
                candidate.member[1:]
                if candidate.member[0] == "meta" and len(candidate.member) > 1
                else candidate.member
            )
            base = [DRIVER.c.kind == self.kind]
            if member[0] == "labels" and len(member) > 1:
                key = "labels." + ".".join(member[1:])
                return [*base, DRIVER.c.key == key, DRIVER.c.value_text == candidate.value]
            spec = self.spec(".".join(member))
            if spec is not None and spec.kind == "text":
                return [
                    *base,
                    DRIVER.c.key == ".".join(member),
                    DRIVER.c.value_text == candidate.value,
                ]
        return None

    def _exists(self, key: str, condition: ColumnElement[bool] | None) -> ColumnElement[bool]:
        conditions = [
            resource_fields.c.resource_seq == resources.c.seq,
            resource_fields.c.kind == self.kind,
            resource_fields.c.key == key,
        ]
        if condition is not None:
            conditions.append(condition)
        return exists().where(*conditions)


def _is_text(node: Comparison) -> bool:
    """Whether a family member's literal compares as text: quoted, or not a number."""
    if node.quoted or node.value is None:
        return True
    if node.value in ("true", "false"):
        return False
    try:
        float(node.value)
    except ValueError:
        return True
    return False


def _compare(column: Any, op: str, value: Any, member: str) -> ColumnElement[bool]:
    if op in ("=", ":"):
        return column == value  # type: ignore[no-any-return]
    if op == "!=":
        return column != value  # type: ignore[no-any-return]
    if op == "<":
        return column < value  # type: ignore[no-any-return]
    if op == ">":
        return column > value  # type: ignore[no-any-return]
    if op == "<=":
        return column <= value  # type: ignore[no-any-return]
    if op == ">=":
        return column >= value  # type: ignore[no-any-return]
    raise errors.invalid("filter", f"operator {op!r} does not apply to {member}")


_STATUS_NAMES = {
    name.removeprefix("OBJECT_STATUS_"): number
    for name, number in object_meta_pb2.ObjectStatus.items()
    if number
}


def _status_number(value: str) -> int:
    name = value.upper().removeprefix("OBJECT_STATUS_")
    if name not in _STATUS_NAMES:
        raise errors.invalid(
            "filter", f"status is one of ACTIVE, DEPRECATED, ARCHIVED, not {value!r}"
        )
    return _STATUS_NAMES[name]
