"""Resources: insert, replace, read by id or name, count, and list pages in keyset order.

A page is read in creation order or by one built-in column (name, create and update
time) through the indexes of ``resources``; any other order (several keys, or indexed
fields such as a run's `start_time` or `metrics.auc`) sorts the matching rows by their
values in ``resource_fields``.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select, text
from sqlalchemy.exc import IntegrityError

from mlspec import errors
from mlspec.common.v1 import object_meta_pb2
from mlspec.store.api import ListQuery, ListResult, ResourceRecord
from mlspec.store.sql.base import SqlBase
from mlspec.store.sql.filters import DRIVER, FilterCompiler
from mlspec.store.sql.schema import resource_fields, resources

ARCHIVED = object_meta_pb2.OBJECT_STATUS_ARCHIVED


class ResourceStatements(SqlBase):
    """The resource operations of a transaction."""

    def insert(self, record: ResourceRecord) -> ResourceRecord:
        """Inserts a new resource; raises AlreadyExists when its name is taken."""
        with self._guard():
            try:
                rows = self._rows(_INSERT_RESOURCE, _values(record))
            except IntegrityError as exc:
                raise _name_taken(record) from exc
        record.seq = int(rows[0][0])
        self._write_fields(record)
        return record

    def replace(self, record: ResourceRecord, expected_etag: str) -> ResourceRecord:
        """Overwrites a resource if its stored etag is ``expected_etag`` (else ABORTED)."""
        values = _values(record)
        try:
            rows = self._rows(
                _UPDATE_RESOURCE, (*values[3:7], *values[8:], record.id, expected_etag)
            )
        except IntegrityError as exc:
            raise _name_taken(record) from exc
        if not rows:
            raise errors.Aborted(
                f"resource {record.id} was changed by someone else (etag mismatch); read it "
                "again and retry",
                reason="ETAG_MISMATCH",
                resource_name=record.id,
            )
        record.seq = int(rows[0][0])
        self._rows("DELETE FROM resource_fields WHERE resource_seq = ?", (record.seq,))
        self._write_fields(record)
        return record

    def _write_fields(self, record: ResourceRecord) -> None:
        if record.fields:
            self._rows(
                _INSERT_FIELD,
                [(record.seq, record.kind, f.key, f.text, f.num) for f in record.fields],
            )

    def get(self, workspace: str, resource_id: str) -> ResourceRecord | None:
        """Returns a resource of the workspace by id (archived ones included)."""
        rows = self._rows(
            _SELECT_RESOURCE + " WHERE id = ? AND workspace = ?", (resource_id, workspace)
        )
        return _tuple_to_record(rows[0]) if rows else None

    def get_many(self, workspace: str, ids: Sequence[str]) -> dict[str, ResourceRecord]:
        """Returns the resources of the workspace with the given ids, by id."""
        found: dict[str, ResourceRecord] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            for row in self._rows(select_by_ids(len(chunk)), tuple(chunk)):
                if row[2] == workspace:  # the id index finds them; the workspace is checked here
                    record = _tuple_to_record(row)
                    found[record.id] = record
        return found

    def find_by_name(
        self, workspace: str, kind: int, scope: str, name: str
    ) -> ResourceRecord | None:
        """Returns the non-archived resource with this name (case-insensitive), if any."""
        row = self.conn.execute(
            select(resources).where(
                resources.c.workspace == workspace,
                resources.c.kind == kind,
                resources.c.scope == scope,
                resources.c.name_lower == name.lower(),
                resources.c.status != ARCHIVED,
            )
        ).first()
        return None if row is None else _row_to_record(row)

    def lock_resource(self, workspace: str, resource_id: str) -> None:
        """Holds a resource's row until the transaction ends (PostgreSQL).

        Checks made under the lock (unique versions and aliases of a model) and the writes
        after them take turns. SQLite needs nothing: its writes are serialized already.
        """
        if self.is_sqlite:
            return
        self.conn.execute(
            select(resources.c.seq)
            .where(resources.c.id == resource_id, resources.c.workspace == workspace)
            .with_for_update()
        )

    def lock_key(self, workspace: str, key: str) -> None:
        """Holds ``key`` until the transaction ends (a PostgreSQL advisory lock).

        Two transactions claiming the same unique value (an external id) take turns.
        SQLite needs nothing: its writes are serialized already.
        """
        if self.is_sqlite:
            return
        digest = hashlib.sha256(f"{workspace}\x00{key}".encode()).digest()
        self.conn.execute(
            text("SELECT pg_advisory_xact_lock(:k)"),
            {"k": int.from_bytes(digest[:8], "big", signed=True)},
        )

    def ids_by_name_in_any_scope(
        self, workspace: str, kind: int, name: str, limit: int = 2
    ) -> list[str]:
        """Ids of non-archived resources with this name (case-insensitive) in any scope."""
        rows = self.conn.execute(
            select(resources.c.id)
            .where(
                resources.c.workspace == workspace,
                resources.c.kind == kind,
                resources.c.name_lower == name.lower(),
                resources.c.status != ARCHIVED,
            )
            .limit(limit)
        )
        return [str(r.id) for r in rows]

    def latest_in_scope(
        self, workspace: str, kind: int, scope: str, statuses: Sequence[int]
    ) -> ResourceRecord | None:
        """Returns the newest resource of a kind within a scope with one of ``statuses``."""
        row = self.conn.execute(
            select(resources)
            .where(
                resources.c.workspace == workspace,
                resources.c.kind == kind,
                resources.c.scope == scope,
                resources.c.status.in_(list(statuses)),
            )
            .order_by(resources.c.seq.desc())
            .limit(1)
        ).first()
        return None if row is None else _row_to_record(row)

    def count_in_scope(self, workspace: str, kind: int, scope: str) -> int:
        """Counts the resources of a kind within a scope (every status)."""
        return int(
            self.conn.execute(
                select(func.count()).where(
                    resources.c.workspace == workspace,
                    resources.c.kind == kind,
                    resources.c.scope == scope,
                )
            ).scalar_one()
        )

    def list_page(self, query: ListQuery) -> ListResult:
        """Returns one page of resources matching ``query``, in a stable keyset order."""
        conditions: list[ColumnElement[bool]] = [
            resources.c.workspace == query.workspace,
            resources.c.kind == query.kind,
        ]
        if query.scope is not None:
            conditions.append(resources.c.scope == query.scope)
        if query.statuses:
            conditions.append(resources.c.status.in_(list(query.statuses)))
        compiler = FilterCompiler(query.kind, query.members)
        if query.filter is not None:
            conditions.append(compiler.compile(query.filter))
        if not _simple_order(query):
            return self._sorted_page(query, conditions, compiler)
        sort_col, descending = _sort_column(query)
        # With the default order and an equality on an indexed field in the filter, read
        # the matches from the field index in seq order: a page costs O(page size) for
        # rare and common values alike (an EXISTS probe per row would scan past every
        # non-matching row first).
        driver = (
            compiler.driver(query.filter) if query.filter is not None and sort_col is None else None
        )
        if query.after is not None:
            value, seq = query.after
            if sort_col is None:
                conditions.append(resources.c.seq < seq if descending else resources.c.seq > seq)
            elif descending:
                conditions.append(
                    or_(sort_col < value, and_(sort_col == value, resources.c.seq < seq))
                )
            else:
                conditions.append(
                    or_(sort_col > value, and_(sort_col == value, resources.c.seq > seq))
                )
        order = []
        if sort_col is not None:
            order.append(sort_col.desc() if descending else sort_col.asc())
        order.append(resources.c.seq.desc() if descending else resources.c.seq.asc())
        stmt = select(resources).where(*conditions).order_by(*order).limit(query.page_size + 1)
        if driver is not None and not descending:
            joined = DRIVER.join(resources, resources.c.seq == DRIVER.c.resource_seq)
            stmt = (
                select(resources)
                .select_from(joined)
                .where(*driver, *conditions)
                .order_by(DRIVER.c.resource_seq)
                .limit(query.page_size + 1)
            )
        result = self.conn.execute(stmt)
        # The driver's own rows: SQLAlchemy's row objects cost more than the query itself.
        rows = result.cursor.fetchall()
        result.close()
        more = len(rows) > query.page_size
        rows = rows[: query.page_size]
        records = [_tuple_to_record(_RECORD_COLUMNS(r)) for r in rows]
        last = None
        if rows:
            last = (None if sort_col is None else _sort_value(rows[-1], sort_col), records[-1].seq)
        return ListResult(records, last, more)

    def _sorted_page(
        self, query: ListQuery, conditions: list[ColumnElement[bool]], compiler: FilterCompiler
    ) -> ListResult:
        """A page in any order of several keys, built-in columns or indexed fields.

        An indexed field's value is its row in ``resource_fields`` (the smallest, for a
        field with several); resources without one sort after those with one, in either
        direction. Ties go by creation (``seq``) in the direction of the last key. The
        keyset position is the list of the last row's key values and its ``seq``.
        """
        keys = [_sort_expression(query, key.member, compiler) for key in query.order_by]
        descending = [key.descending for key in query.order_by]
        inner = (
            select(
                resources.c.seq.label("seq"), *(e.label(f"k{i}") for i, (e, _) in enumerate(keys))
            )
            .where(*conditions)
            .subquery("sorted")
        )
        parts: list[tuple[Any, bool]] = []
        for i, (_, default) in enumerate(keys):
            column = inner.c[f"k{i}"]
            if default is None:  # a built-in column: never NULL
                parts.append((column, descending[i]))
            else:
                parts.append((case((column.is_(None), 1), else_=0), False))
                parts.append((func.coalesce(column, default), descending[i]))
        parts.append((inner.c.seq, descending[-1]))
        where: list[ColumnElement[bool]] = []
        if query.after is not None:
            values, seq = query.after
            assert isinstance(values, list) and len(values) == len(keys)
            bound: list[Any] = []
            for (_, default), value in zip(keys, values, strict=True):
                if default is None:
                    bound.append(value)
                else:
                    bound += [1 if value is None else 0, default if value is None else value]
            bound.append(seq)
            where.append(
                or_(
                    *(
                        and_(
                            *(parts[j][0] == bound[j] for j in range(i)),
                            column < bound[i] if desc else column > bound[i],
                        )
                        for i, (column, desc) in enumerate(parts)
                    )
                )
            )
        stmt = (
            select(resources, *(inner.c[f"k{i}"] for i in range(len(keys))))
            .join(inner, resources.c.seq == inner.c.seq)
            .where(*where)
            .order_by(*(c.desc() if d else c.asc() for c, d in parts))
            .limit(query.page_size + 1)
        )
        rows = list(self.conn.execute(stmt))
        more = len(rows) > query.page_size
        rows = rows[: query.page_size]
        last = None
        if rows:
            tail = rows[-1]
            last = ([getattr(tail, f"k{i}") for i in range(len(keys))], tail.seq)
        return ListResult([_row_to_record(r) for r in rows], last, more)


def _sort_expression(query: ListQuery, member: str, compiler: FilterCompiler) -> tuple[Any, Any]:
    """A sort key's SQL expression, and the value standing in for an absent one.

    Built-in columns are never absent (None); an indexed field may be (its stand-in is
    the empty text or 0, told apart from a real value by a separate "absent" key).
    """
    member = member.removeprefix("meta.")
    if member in _BUILTIN_ORDER:
        return _BUILTIN_ORDER[member], None
    spec = compiler.spec(member)
    if spec is None:
        raise errors.invalid("order_by", f"cannot sort by {member!r} in this list")
    text = spec.kind == "text"
    column = resource_fields.c.value_text if text else resource_fields.c.value_num
    value = (
        select(func.min(column))
        .where(
            resource_fields.c.resource_seq == resources.c.seq,
            resource_fields.c.kind == query.kind,
            resource_fields.c.key == member,
        )
        .scalar_subquery()
    )
    return value, ("" if text else 0.0)


def _simple_order(query: ListQuery) -> bool:
    """Whether the page is in creation order or by one built-in column (the fast paths)."""
    if not query.order_by:
        return True
    return (
        len(query.order_by) == 1
        and query.order_by[0].member.removeprefix("meta.") in _BUILTIN_ORDER
    )


def select_by_ids(count: int) -> str:
    """The statement that reads ``count`` resources by id, through the unique id index.

    It names no workspace: with ``workspace = ? AND id IN (...)`` and no planner
    statistics (the server never runs ANALYZE), SQLite takes the workspace prefix of
    ``ix_resources_scope`` for the narrower condition and scans the whole workspace. An
    id matches one row at most, so callers check the workspace of the rows returned.
    """
    return _SELECT_RESOURCE + f" WHERE id IN ({', '.join('?' * count)})"


def _row_to_record(row: Any) -> ResourceRecord:
    """A record from a SQLAlchemy row of ``select(resources)``, read by position.

    Looking a row's columns up by name cost more than the rest of decoding a page.
    """
    return _tuple_to_record(_RECORD_COLUMNS(row))


def _tuple_to_record(row: tuple[Any, ...]) -> ResourceRecord:
    """A record from a driver row in _COLUMNS order."""
    seq, id_, workspace, kind, scope, name, status, create_time, update_time, etag, data = row
    return ResourceRecord(
        id=id_,
        workspace=workspace,
        kind=kind,
        scope=scope,
        name=name or "",
        status=status,
        create_time=create_time,
        update_time=update_time,
        etag=etag,
        data=bytes(data),
        seq=seq,
    )


_COLUMNS = "seq, id, workspace, kind, scope, name, status, create_time, update_time, etag, data"
_SELECT_RESOURCE = f"SELECT {_COLUMNS} FROM resources"  # noqa: S608 - fixed column list
# The _COLUMNS of a row of the whole resources table, by position.
_RECORD_COLUMNS = operator.itemgetter(
    *(list(resources.c.keys()).index(c) for c in _COLUMNS.split(", "))
)
_INSERT_RESOURCE = (
    "INSERT INTO resources (id, workspace, kind, scope, name, name_lower, status, create_time,"
    " update_time, etag, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq"
)
_UPDATE_RESOURCE = (
    "UPDATE resources SET scope = ?, name = ?, name_lower = ?, status = ?, update_time = ?,"
    " etag = ?, data = ? WHERE id = ? AND etag = ? RETURNING seq"
)
_INSERT_FIELD = (
    "INSERT INTO resource_fields (resource_seq, kind, key, value_text, value_num)"
    " VALUES (?, ?, ?, ?, ?)"
)


def _values(record: ResourceRecord) -> tuple[Any, ...]:
    """The insert parameters of a record, in _INSERT_RESOURCE order."""
    return (
        record.id,
        record.workspace,
        record.kind,
        record.scope,
        record.name or None,
        record.name.lower() if record.name else None,
        record.status,
        record.create_time,
        record.update_time,
        record.etag,
        record.data,
    )


def _name_taken(record: ResourceRecord) -> errors.AlreadyExists:
    return errors.AlreadyExists(
        f"a resource of this kind named {record.name!r} already exists in this scope",
        reason="NAME_TAKEN",
        resource_name=record.name,
    )


# Sortable members. Unnamed objects sort as the empty name on every backend (SQLite and
# PostgreSQL place NULLs differently), and page positions never hold NULL.
_BUILTIN_ORDER = {
    "create_time": resources.c.create_time,
    "update_time": resources.c.update_time,
    "name": func.coalesce(resources.c.name_lower, ""),
}


def _sort_value(row: tuple[Any, ...], sort_col: Any) -> Any:
    """The sort key's value in a driver row of ``select(resources)``."""
    if sort_col is _BUILTIN_ORDER["name"]:
        return row[_POSITION["name_lower"]] or ""
    return row[_POSITION[sort_col.name]]


_POSITION = {name: i for i, name in enumerate(resources.c.keys())}


def _sort_column(query: ListQuery) -> tuple[Any, bool]:
    """The built-in column of a one-key order (see ``_simple_order``) and its direction."""
    if not query.order_by:
        return None, False
    key = query.order_by[0]
    return _BUILTIN_ORDER[key.member.removeprefix("meta.")], key.descending
