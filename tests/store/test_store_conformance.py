"""The storage conformance suite: one set of tests, run on SQLite and on PostgreSQL.

Every test takes the ``store`` fixture, which is parametrized over both backends (see
``conftest.py``). Filters and pagination are checked against a plain-Python oracle on
records that hypothesis generates; each example writes into a workspace of its own, so
examples that share one database cannot see each other.
"""

from __future__ import annotations

import functools
import itertools
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlspec import errors
from mlspec.query import OrderKey, parse_filter
from mlspec.store.api import EventRow, FieldSpec, FieldValue, ListQuery, LogRow, ResourceRecord
from mlspec.store.sql import SchemaOutOfDate, SqlStore
from mlspec.store.sql.lineage import summaries_by_ids, walk_statement
from mlspec.store.sql.resources import select_by_ids
from mlspec.store.sql.schema import metadata
from mlspec.tracking.v1.metric_pb2 import Metric

ACTIVE, DEPRECATED, ARCHIVED = 1, 2, 3
KIND = 7
OTHER_KIND = 8
T0 = 1_750_000_000_000_000  # 2025-06-15, in microseconds since the epoch
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# hypothesis examples share the per-test database and isolate themselves by workspace.
PROPERTY = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

STAGES = (("STAGE_UNSPECIFIED", 0), ("STAGE_TRAIN", 1), ("STAGE_EVAL", 2), ("STAGE_SERVE", 3))
MEMBERS = {
    "stage": FieldSpec("enum", STAGES),
    "framework": FieldSpec("text"),
    "score": FieldSpec("num"),
    "end_time": FieldSpec("time"),
    "tags": FieldSpec("text"),  # repeated: a record may hold several values
}

_ids = itertools.count(1)


def new_workspace() -> str:
    return f"ws-{uuid.uuid4().hex[:12]}"


def make(
    workspace: str,
    name: str = "",
    *,
    kind: int = KIND,
    scope: str = "",
    status: int = ACTIVE,
    create_time: int = T0,
    update_time: int | None = None,
    fields: Sequence[FieldValue] = (),
    data: bytes = b"",
) -> ResourceRecord:
    n = next(_ids)
    return ResourceRecord(
        id=f"r{n:06d}-{uuid.uuid4().hex[:16]}",
        workspace=workspace,
        kind=kind,
        scope=scope,
        name=name,
        status=status,
        create_time=create_time,
        update_time=create_time if update_time is None else update_time,
        etag=uuid.uuid4().hex[:16],
        data=data or f"payload-{n}".encode(),
        fields=list(fields),
    )


def insert_all(store: SqlStore, records: Iterable[ResourceRecord]) -> list[ResourceRecord]:
    with store.transaction() as tx:
        return [tx.insert(r) for r in records]


def columns(record: ResourceRecord) -> tuple[object, ...]:
    return (
        record.id,
        record.workspace,
        record.kind,
        record.scope,
        record.name,
        record.status,
        record.create_time,
        record.update_time,
        record.etag,
        record.data,
    )


def list_all(store: SqlStore, query: ListQuery) -> list[ResourceRecord]:
    """Follows the keyset pages of ``query`` to the end."""
    found: list[ResourceRecord] = []
    for _ in range(10_000):
        with store.transaction(write=False) as tx:
            page = tx.list_page(query)
        assert len(page.records) <= query.page_size
        found.extend(page.records)
        if not page.more:
            return found
        assert page.last is not None
        query.after = page.last
    raise AssertionError("pagination did not end")


def rfc3339(micros: int) -> str:
    return (EPOCH + timedelta(microseconds=micros)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- round trip ---------------------------------------------------------------------------


def test_insert_get_round_trip(store: SqlStore) -> None:
    ws = new_workspace()
    record = make(
        ws,
        "Ünïcødé-Model_1",
        scope="parent-1",
        status=DEPRECATED,
        create_time=2**62,
        update_time=2**62 + 1,
        data=bytes(range(256)) * 4,
        fields=[FieldValue("labels.env", text="prod"), FieldValue("score", num=0.25)],
    )
    with store.transaction() as tx:
        inserted = tx.insert(record)
    assert inserted.seq > 0
    with store.transaction(write=False) as tx:
        got = tx.get(ws, record.id)
        assert tx.get(new_workspace(), record.id) is None  # another workspace sees nothing
        assert tx.get(ws, "missing") is None
        many = tx.get_many(ws, [record.id, "missing", record.id])
    assert got is not None
    assert columns(got) == columns(record)
    assert got.seq == inserted.seq
    assert list(many) == [record.id]
    assert columns(many[record.id]) == columns(record)


@PROPERTY
@given(
    name=st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60),
    data=st.binary(min_size=1, max_size=300),
    status=st.sampled_from([ACTIVE, DEPRECATED, ARCHIVED]),
    times=st.tuples(st.integers(0, 2**63 - 1), st.integers(0, 2**63 - 1)),
)
def test_round_trip_property(
    store: SqlStore, name: str, data: bytes, status: int, times: tuple[int, int]
) -> None:
    name = name.replace("\x00", "")  # PostgreSQL text cannot hold NUL; names never do
    record = make(
        new_workspace(),
        name,
        status=status,
        create_time=times[0],
        update_time=times[1],
        data=data,
    )
    insert_all(store, [record])
    with store.transaction(write=False) as tx:
        got = tx.get(record.workspace, record.id)
        many = tx.get_many(record.workspace, [record.id])
    assert got is not None
    assert columns(got) == columns(record)
    assert columns(many[record.id]) == columns(record)


def test_get_many_over_many_ids(store: SqlStore) -> None:
    ws = new_workspace()
    records = insert_all(store, [make(ws, f"m{i}") for i in range(620)])
    with store.transaction(write=False) as tx:
        found = tx.get_many(ws, [r.id for r in records] + ["nope"])
    assert sorted(found) == sorted(r.id for r in records)


def test_reads_by_id_never_return_another_workspaces_records(store: SqlStore) -> None:
    ws, other = new_workspace(), new_workspace()
    mine = insert_all(store, [make(ws, f"m{i}") for i in range(3)])
    theirs = insert_all(store, [make(other, f"t{i}") for i in range(3)])
    ids = [r.id for r in [*mine, *theirs]]
    with store.transaction(write=False) as tx:
        assert sorted(tx.get_many(ws, ids)) == sorted(r.id for r in mine)
        assert sorted(tx.summaries(other, ids)) == sorted(r.id for r in theirs)
        assert tx.get(ws, theirs[0].id) is None


def query_plan(store: SqlStore, sql: str, params: tuple[object, ...]) -> str:
    """The plan the database picks for ``sql`` as the store runs it.

    SQLite plans without statistics, as the server's stores do (it never runs ANALYZE).
    PostgreSQL's autovacuum gathers statistics by itself, so they are gathered here too;
    it is told not to scan whole tables (sequentially, or in index order for a merge or
    hash join), which on a test-sized table it would rightly prefer, so that the plan
    shows which index it looks rows up with.
    """
    with store.engine.connect() as conn:
        if store.is_sqlite:
            assert not conn.exec_driver_sql(
                "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"
            ).first(), "the store must plan without ANALYZE statistics"
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
            return "\n".join(str(row[-1]) for row in rows)
        conn.exec_driver_sql("ANALYZE")
        for setting in ("enable_seqscan", "enable_mergejoin", "enable_hashjoin"):
            conn.exec_driver_sql(f"SET {setting} = off")
        rows = conn.exec_driver_sql(f"EXPLAIN {sql.replace('?', '%s')}", params).fetchall()
        return "\n".join(str(row[0]) for row in rows)


def test_lookups_by_id_use_the_id_index_without_statistics(store: SqlStore) -> None:
    # Issue 8: with `workspace = ? AND id IN (...)` SQLite took ix_resources_scope and
    # scanned the whole workspace (33 ms at 76,000 resources instead of 0.1 ms).
    ws = new_workspace()
    records = insert_all(store, [make(ws, f"p{i}", kind=KIND + i % 3) for i in range(300)])
    ids = tuple(r.id for r in records[:100])
    if not store.is_sqlite:  # PostgreSQL rightly reads a tiny table whole: make it larger
        with store.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO resources (id, workspace, kind, scope, status, create_time,"
                " update_time, etag, data) SELECT 'fill-' || n, %s, 7, '', 1, 0, 0, 'e', ''"
                " FROM generate_series(1, 20000) AS n",
                (ws,),
            )
    id_index = "sqlite_autoindex_resources_1" if store.is_sqlite else "resources_id_key"
    for sql in (select_by_ids(len(ids)), summaries_by_ids(len(ids))):
        plan = query_plan(store, sql, ids)
        assert id_index in plan, plan
        assert "ix_resources_scope" not in plan and "ix_resources_list" not in plan, plan


def test_lineage_walks_look_edges_up_by_their_near_end(store: SqlStore) -> None:
    ws = new_workspace()
    with store.transaction() as tx:
        tx.add_edges(ws, [(f"n{i}", f"n{i + 1}", 1) for i in range(200)])
    upstream = query_plan(store, walk_statement(upstream=True), ("n200", 100, ws))
    downstream = query_plan(store, walk_statement(upstream=False), ("n0", 100, ws))
    assert "ix_lineage_edges_dst" in upstream, upstream
    primary = "sqlite_autoindex_lineage_edges_1" if store.is_sqlite else "pk_lineage_edges"
    assert primary in downstream, downstream


# -- names --------------------------------------------------------------------------------


def test_names_are_unique_case_insensitively_per_workspace_kind_and_scope(
    store: SqlStore,
) -> None:
    ws = new_workspace()
    insert_all(store, [make(ws, "Model", scope="s1")])
    for clash in ("Model", "model", "MODEL"):
        with pytest.raises(errors.AlreadyExists), store.transaction() as tx:
            tx.insert(make(ws, clash, scope="s1"))
    # The same name elsewhere is fine: another scope, kind or workspace.
    insert_all(
        store,
        [
            make(ws, "model", scope="s2"),
            make(ws, "model", scope=""),
            make(ws, "model", scope="s1", kind=OTHER_KIND),
            make(new_workspace(), "model", scope="s1"),
        ],
    )
    # Unnamed records never clash.
    insert_all(store, [make(ws, "", scope="s1"), make(ws, "", scope="s1")])


def test_archiving_frees_the_name(store: SqlStore) -> None:
    ws = new_workspace()
    (first,) = insert_all(store, [make(ws, "Model", scope="s")])
    with store.transaction() as tx:
        first.status = ARCHIVED
        old_etag, first.etag = first.etag, "e2"
        tx.replace(first, old_etag)
    second, third = make(ws, "MODEL", scope="s"), make(ws, "model", scope="s")
    insert_all(store, [second])
    with pytest.raises(errors.AlreadyExists), store.transaction() as tx:
        tx.insert(third)
    # A second archived holder of the name is fine too.
    with store.transaction() as tx:
        second.status = ARCHIVED
        old_etag, second.etag = second.etag, "e3"
        tx.replace(second, old_etag)
        tx.insert(third)
        found = tx.find_by_name(ws, KIND, "s", "mOdEl")
    assert found is not None
    assert found.id == third.id


def test_rename_onto_a_taken_name_is_rejected(store: SqlStore) -> None:
    ws = new_workspace()
    _, b = insert_all(store, [make(ws, "a"), make(ws, "b")])
    b.name = "A"
    with pytest.raises(errors.AlreadyExists), store.transaction() as tx:
        tx.replace(b, b.etag)
    with store.transaction(write=False) as tx:
        stored = tx.get(ws, b.id)
    assert stored is not None
    assert stored.name == "b"


def test_a_name_clash_leaves_the_transaction_usable(store: SqlStore) -> None:
    ws = new_workspace()
    insert_all(store, [make(ws, "taken")])
    later = make(ws, "free")
    with store.transaction() as tx:
        with pytest.raises(errors.AlreadyExists):
            tx.insert(make(ws, "TAKEN"))
        tx.insert(later)
    with store.transaction(write=False) as tx:
        assert tx.get(ws, later.id) is not None


def test_find_by_name(store: SqlStore) -> None:
    ws = new_workspace()
    live, archived = make(ws, "Live", scope="s"), make(ws, "Gone", scope="s", status=ARCHIVED)
    deprecated = make(ws, "Old", scope="s", status=DEPRECATED)
    insert_all(store, [live, archived, deprecated])
    with store.transaction(write=False) as tx:
        found = tx.find_by_name(ws, KIND, "s", "LIVE")
        assert found is not None
        assert found.id == live.id
        found = tx.find_by_name(ws, KIND, "s", "old")
        assert found is not None
        assert found.id == deprecated.id
        assert tx.find_by_name(ws, KIND, "s", "gone") is None  # archived: not by name
        assert tx.get(ws, archived.id) is not None  # ... but still by id
        assert tx.find_by_name(ws, KIND, "other", "live") is None
        assert tx.find_by_name(ws, OTHER_KIND, "s", "live") is None
        assert tx.find_by_name(new_workspace(), KIND, "s", "live") is None


def test_latest_and_count_in_scope(store: SqlStore) -> None:
    ws = new_workspace()
    records = insert_all(
        store,
        [
            make(ws, "v1", scope="s"),
            make(ws, "v2", scope="s", status=DEPRECATED),
            make(ws, "v3", scope="s", status=ARCHIVED),
            make(ws, "x", scope="t"),
        ],
    )
    with store.transaction(write=False) as tx:
        latest = tx.latest_in_scope(ws, KIND, "s", [ACTIVE, DEPRECATED])
        assert latest is not None
        assert latest.id == records[1].id
        latest = tx.latest_in_scope(ws, KIND, "s", [ACTIVE])
        assert latest is not None
        assert latest.id == records[0].id
        assert tx.latest_in_scope(ws, KIND, "none", [ACTIVE]) is None
        assert tx.count_in_scope(ws, KIND, "s") == 3
        assert tx.count_in_scope(ws, OTHER_KIND, "s") == 0


# -- etags --------------------------------------------------------------------------------


def test_replace_with_the_right_etag(store: SqlStore) -> None:
    ws = new_workspace()
    (record,) = insert_all(
        store, [make(ws, "a", create_time=T0, fields=[FieldValue("labels.env", text="dev")])]
    )
    updated = make(ws, "renamed", status=DEPRECATED, create_time=T0 + 999, update_time=T0 + 5)
    updated.id, updated.data = record.id, b"new payload"
    updated.fields = [FieldValue("labels.env", text="prod")]
    with store.transaction() as tx:
        tx.replace(updated, record.etag)
    with store.transaction(write=False) as tx:
        got = tx.get(ws, record.id)
        by_old = tx.list_page(
            ListQuery(ws, KIND, filter=parse_filter('labels.env = "dev"'))
        ).records
        by_new = tx.list_page(
            ListQuery(ws, KIND, filter=parse_filter('labels.env = "prod"'))
        ).records
    assert got is not None
    assert (got.name, got.status, got.etag, got.data) == (
        "renamed",
        DEPRECATED,
        updated.etag,
        b"new payload",
    )
    assert got.update_time == T0 + 5
    assert got.create_time == T0  # create time is immutable
    assert got.seq == record.seq
    assert by_old == []  # the filterable fields were replaced too
    assert [r.id for r in by_new] == [record.id]


def test_replace_with_a_wrong_etag_is_aborted(store: SqlStore) -> None:
    ws = new_workspace()
    (record,) = insert_all(store, [make(ws, "a")])
    stale = make(ws, "b")
    stale.id = record.id
    with pytest.raises(errors.Aborted), store.transaction() as tx:
        tx.replace(stale, "not-the-etag")
    with pytest.raises(errors.Aborted), store.transaction() as tx:
        tx.replace(make(ws, "c"), "whatever")  # no such record
    with store.transaction(write=False) as tx:
        got = tx.get(ws, record.id)
    assert got is not None
    assert columns(got) == columns(record)


# -- listing ------------------------------------------------------------------------------


def test_list_statuses_scope_kind_and_workspace(store: SqlStore) -> None:
    ws = new_workspace()
    records = insert_all(
        store,
        [
            make(ws, "a", scope="s", status=ACTIVE),
            make(ws, "b", scope="s", status=DEPRECATED),
            make(ws, "c", scope="s", status=ARCHIVED),
            make(ws, "d", scope="t", status=ACTIVE),
            make(ws, "e", scope="s", kind=OTHER_KIND),
            make(new_workspace(), "f", scope="s"),
        ],
    )
    a, b, c, d = (r.id for r in records[:4])

    def ids(**kwargs: object) -> list[str]:
        with store.transaction(write=False) as tx:
            return [r.id for r in tx.list_page(ListQuery(ws, KIND, **kwargs)).records]

    assert ids() == [a, b, c, d]
    assert ids(scope="s") == [a, b, c]
    assert ids(scope="s", statuses=(ACTIVE,)) == [a]
    assert ids(statuses=(ACTIVE, DEPRECATED)) == [a, b, d]
    assert ids(statuses=(ARCHIVED,)) == [c]
    assert ids(scope="nowhere") == []


def test_order_by_with_ties(store: SqlStore) -> None:
    ws = new_workspace()
    # Equal create times, and equal names in different scopes: the ties break by insertion.
    records = insert_all(
        store,
        [
            make(ws, "b", scope="s1", create_time=T0),
            make(ws, "a", scope="s1", create_time=T0 + 1),
            make(ws, "B", scope="s2", create_time=T0),
            make(ws, "a", scope="s2", create_time=T0 + 1),
            make(ws, "c", scope="s1", create_time=T0),
            make(ws, "b", scope="s3", create_time=T0 + 1),
        ],
    )
    r = [x.id for x in records]
    cases = {
        ("create_time", False): [r[0], r[2], r[4], r[1], r[3], r[5]],
        ("create_time", True): [r[5], r[3], r[1], r[4], r[2], r[0]],
        ("name", False): [r[1], r[3], r[0], r[2], r[5], r[4]],
        ("name", True): [r[4], r[5], r[2], r[0], r[3], r[1]],
    }
    for (member, descending), expected in cases.items():
        for page_size in (1, 2, 4, 50):
            query = ListQuery(
                ws, KIND, order_by=[OrderKey(member, descending)], page_size=page_size
            )
            got = [x.id for x in list_all(store, query)]
            assert got == expected, (member, descending, page_size)


def test_order_by_an_unknown_key_is_invalid(store: SqlStore) -> None:
    ws = new_workspace()
    for order in ([OrderKey("score")], [OrderKey("name"), OrderKey("score")]):
        with pytest.raises(errors.InvalidArgument), store.transaction(write=False) as tx:
            tx.list_page(ListQuery(ws, KIND, order_by=order))


def test_order_by_indexed_fields_and_several_keys(store: SqlStore) -> None:
    """Fields sort by their indexed value, absent ones last either way; keys combine."""
    ws = new_workspace()
    scores: list[float | None] = [2.0, None, -1.0, 2.0, 0.5, None]
    records = []
    for i, (name, score) in enumerate(zip("bacabd", scores, strict=True)):
        record = make(ws, name, scope=f"s{i}")
        record.fields = [] if score is None else [FieldValue("score", num=score)]
        records.append(record)
    r = [x.id for x in insert_all(store, records)]
    cases = {
        (("score", False),): [r[2], r[4], r[0], r[3], r[1], r[5]],
        (("score", True),): [r[3], r[0], r[4], r[2], r[5], r[1]],
        (("score", True), ("name", False)): [r[3], r[0], r[4], r[2], r[1], r[5]],
        (("name", False), ("score", True)): [r[3], r[1], r[0], r[4], r[2], r[5]],
    }
    for keys, expected in cases.items():
        for page_size in (1, 2, 4, 50):
            query = ListQuery(
                ws,
                KIND,
                order_by=[OrderKey(m, d) for m, d in keys],
                page_size=page_size,
                members={"score": FieldSpec("num")},
            )
            got = [x.id for x in list_all(store, query)]
            assert got == expected, (keys, page_size)


ORDERS = st.sampled_from(
    [
        [],
        [OrderKey("create_time")],
        [OrderKey("create_time", True)],
        [OrderKey("update_time", True)],
        [OrderKey("name")],
        [OrderKey("name", True)],
    ]
)
NAME_ALPHABET = "abAB-_1é"


# Orders over indexed fields and several keys, for records that hold the MEMBERS fields.
FIELD_ORDERS = st.sampled_from(
    [
        [OrderKey("score")],
        [OrderKey("score", True)],
        [OrderKey("score", True), OrderKey("name")],
        [OrderKey("name"), OrderKey("create_time", True)],
        [OrderKey("stage"), OrderKey("score", True)],
    ]
)


def key_value(record: ResourceRecord, member: str) -> int | str | float | None:
    """A record's value of a sort key: a column, or its smallest indexed value."""
    if member == "name":
        return record.name.lower()
    if member in ("create_time", "update_time"):
        return int(getattr(record, member))
    numbers = [f.num for f in record.fields if f.key == member and f.num is not None]
    return min(numbers) if numbers else None


def in_order(records: list[ResourceRecord], order: list[OrderKey]) -> list[ResourceRecord]:
    """The oracle's order: keys in turn (absent values last), then insertion."""

    def compare(a: ResourceRecord, b: ResourceRecord) -> int:
        for key in order:
            va, vb = key_value(a, key.member), key_value(b, key.member)
            if va == vb:
                continue
            if va is None or vb is None:
                return 1 if va is None else -1
            less = va < vb  # type: ignore[operator]
            return (-1 if less else 1) * (-1 if key.descending else 1)
        tie_descending = bool(order) and order[-1].descending
        return (a.seq - b.seq) * (-1 if tie_descending else 1)

    return sorted(records, key=functools.cmp_to_key(compare))


@st.composite
def named_records(draw: st.DrawFn, workspace: str, max_size: int = 12) -> list[ResourceRecord]:
    names = draw(
        st.lists(
            st.text(NAME_ALPHABET, min_size=1, max_size=3),
            max_size=max_size,
            unique_by=str.lower,
        )
    )
    return [
        make(
            workspace,
            name,
            status=draw(st.sampled_from([ACTIVE, DEPRECATED, ARCHIVED])),
            create_time=T0 + draw(st.integers(0, 4)) * 1_000_000,
            update_time=T0 + draw(st.integers(0, 4)),
        )
        for name in names
    ]


@PROPERTY
@given(data=st.data())
def test_pagination_survives_concurrent_inserts(store: SqlStore, data: st.DataObject) -> None:
    ws = new_workspace()
    existing = insert_all(store, data.draw(named_records(ws)))
    order = data.draw(ORDERS, label="order")
    statuses = data.draw(
        st.sampled_from([(), (ACTIVE,), (ACTIVE, DEPRECATED), (ARCHIVED,)]), label="statuses"
    )
    query = ListQuery(
        ws,
        KIND,
        statuses=statuses,
        order_by=order,
        page_size=data.draw(st.integers(1, 4), label="page_size"),
    )
    seen: list[ResourceRecord] = []
    for page_number in itertools.count():
        assert page_number < 200, "pagination did not end"
        with store.transaction(write=False) as tx:
            page = tx.list_page(query)
        seen.extend(page.records)
        if not page.more:
            break
        # Someone else inserts rows anywhere in the order between two page requests (for
        # a few pages: a writer that outpaces the reader forever never lets a list end).
        extra = [] if page_number >= 4 else data.draw(named_records(ws, 3), label="inserted")
        for record in extra:
            record.name = f"{record.name}~{page_number}"  # stays unique
        insert_all(store, extra)
        assert page.last is not None
        query.after = page.last
    ids = [r.id for r in seen]
    assert len(ids) == len(set(ids)), "a row came twice"
    wanted = [r for r in existing if not statuses or r.status in statuses]
    assert {r.id for r in wanted} <= set(ids), (
        "a row that existed before the first page was skipped"
    )
    assert [r.id for r in in_order(seen, order)] == ids, "pages are out of order"
    assert all(not statuses or r.status in statuses for r in seen)


def test_order_by_name_with_unnamed_records(store: SqlStore) -> None:
    """Unnamed resources (kinds whose name is optional) must not break name order or pages.

    A missing name is the empty string, as in proto3: first in ascending order, last in
    descending order, on every backend.
    """
    ws = new_workspace()
    records = insert_all(store, [make(ws, "b"), make(ws, ""), make(ws, "a"), make(ws, "")])
    b, none1, a, none2 = (r.id for r in records)
    expected = {False: [none1, none2, a, b], True: [b, a, none2, none1]}
    for descending, want in expected.items():
        for page_size in (1, 3, 10):
            query = ListQuery(
                ws, KIND, order_by=[OrderKey("name", descending)], page_size=page_size
            )
            got = [r.id for r in list_all(store, query)]
            assert got == want, (descending, page_size)


# -- filters ------------------------------------------------------------------------------


@dataclass
class Sample:
    """A record as the oracle sees it."""

    name: str
    status: int
    create_time: int
    update_time: int
    labels: dict[str, str] = field(default_factory=dict)
    values: dict[str, list[str | float]] = field(default_factory=dict)

    def record(self, workspace: str, kind: int = KIND) -> ResourceRecord:
        fields = [FieldValue(f"labels.{k}", text=v) for k, v in self.labels.items()]
        for member, values in self.values.items():
            for value in values:
                if isinstance(value, str):
                    fields.append(FieldValue(member, text=value))
                else:
                    fields.append(FieldValue(member, num=value))
        return make(
            workspace,
            self.name,
            kind=kind,
            status=self.status,
            create_time=self.create_time,
            update_time=self.update_time,
            fields=fields,
        )


@dataclass(frozen=True)
class Leaf:
    """One comparison: how it is written and how the oracle decides it."""

    text: str
    test: Callable[[Sample], bool]


@dataclass(frozen=True)
class Tree:
    op: str  # "AND" | "OR" | "NOT"
    children: tuple[Tree | Leaf, ...]


def render(node: Tree | Leaf, style: int) -> str:
    if isinstance(node, Leaf):
        return node.text
    parts = [render(c, style) for c in node.children]
    if node.op == "NOT":
        return f"-({parts[0]})" if style % 2 else f"NOT ({parts[0]})"
    joiner = " " if node.op == "AND" and style >= 2 else f" {node.op} "  # juxtaposition = AND
    return "(" + joiner.join(parts) + ")"


def evaluate(node: Tree | Leaf, sample: Sample) -> bool:
    if isinstance(node, Leaf):
        return node.test(sample)
    if node.op == "NOT":
        return not evaluate(node.children[0], sample)
    results = [evaluate(c, sample) for c in node.children]
    return all(results) if node.op == "AND" else any(results)


COMPARE: dict[str, Callable[[object, object], bool]] = {
    "=": lambda a, b: a == b,
    ":": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,  # type: ignore[operator]
    ">": lambda a, b: a > b,  # type: ignore[operator]
    "<=": lambda a, b: a <= b,  # type: ignore[operator]
    ">=": lambda a, b: a >= b,  # type: ignore[operator]
}
OPS = st.sampled_from(list(COMPARE))
LABEL_KEYS = ("env", "team", "tier")
LABEL_VALUES = ("prod", "dev", "Prod", "x-1", "")
FRAMEWORKS = ("torch", "jax", "Torch", "sk learn")
TAGS = ("a", "b", "c")
SCORES = (-1.5, -1.0, 0.0, 0.5, 2.0)
STATUS_WORDS = {
    "ACTIVE": ACTIVE,
    "active": ACTIVE,
    "DEPRECATED": DEPRECATED,
    "OBJECT_STATUS_ARCHIVED": ARCHIVED,
}


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def time_offsets() -> st.SearchStrategy[int]:
    return st.integers(0, 4).map(lambda s: s * 1_000_000) | st.integers(0, 5_000_000)


@st.composite
def leaves(draw: st.DrawFn) -> Leaf:
    op = draw(OPS)
    cmp = COMPARE[op]
    choice = draw(
        st.sampled_from(
            [
                "name",
                "status",
                "create_time",
                "update_time",
                "label",
                "label_presence",
                "stage",
                "framework",
                "tags",
                "score",
                "end_time",
                "presence",
            ]
        )
    )
    if choice == "name":
        value = draw(st.text(NAME_ALPHABET, max_size=3))
        return Leaf(f"name {op} {quote(value)}", lambda s: cmp(s.name.lower(), value.lower()))
    if choice == "status":
        word = draw(st.sampled_from(sorted(STATUS_WORDS)))
        number = STATUS_WORDS[word]
        return Leaf(f"status {op} {word}", lambda s: cmp(s.status, number))
    if choice in ("create_time", "update_time"):
        micros = T0 + draw(time_offsets())
        member = choice
        return Leaf(
            f"{member} {op} {quote(rfc3339(micros))}",
            lambda s: cmp(getattr(s, member), micros),
        )
    if choice == "label":
        key, value = draw(st.sampled_from(LABEL_KEYS)), draw(st.sampled_from(LABEL_VALUES))
        text = f"labels.{key} {op} {quote(value)}"
        if op in ("=", ":"):
            return Leaf(text, lambda s: s.labels.get(key) == value)
        if op == "!=":
            return Leaf(text, lambda s: s.labels.get(key) != value)
        return Leaf(text, lambda s: key in s.labels and cmp(s.labels[key], value))
    if choice == "label_presence":
        key = draw(st.sampled_from(LABEL_KEYS))
        text = draw(st.sampled_from([f"labels:{key}", f"labels.{key}:*"]))
        return Leaf(text, lambda s: key in s.labels)
    if choice == "presence":
        member = draw(st.sampled_from(sorted(MEMBERS)))
        return Leaf(f"{member}:*", lambda s: bool(s.values.get(member)))
    member = choice
    target: str | float
    if choice == "stage":
        # Full and short enum value names; STAGE_UNSPECIFIED has its own test below.
        written, number = draw(
            st.sampled_from([(n, v) for n, v in STAGES if v] + [(n[6:], v) for n, v in STAGES])
        )
        target = float(number)
    elif choice == "score":
        target = draw(st.sampled_from(SCORES))
        written = repr(target)
    elif choice == "end_time":
        micros = T0 + draw(time_offsets())
        target, written = float(micros), quote(rfc3339(micros))
    else:
        target = draw(st.sampled_from(FRAMEWORKS if choice == "framework" else TAGS))
        written = quote(target)
    text = f"{member} {op} {written}"
    if op == "!=":
        return Leaf(text, lambda s: target not in s.values.get(member, []))
    return Leaf(text, lambda s: any(cmp(v, target) for v in s.values.get(member, [])))


FILTERS = st.recursive(
    leaves(),
    lambda children: st.one_of(
        st.builds(lambda c: Tree("NOT", (c,)), children),
        st.builds(lambda cs: Tree("AND", tuple(cs)), st.lists(children, min_size=2, max_size=3)),
        st.builds(lambda cs: Tree("OR", tuple(cs)), st.lists(children, min_size=2, max_size=3)),
    ),
    max_leaves=6,
)


@st.composite
def samples(draw: st.DrawFn) -> list[Sample]:
    names = draw(
        st.lists(st.text(NAME_ALPHABET, min_size=1, max_size=3), max_size=10, unique_by=str.lower)
    )
    result = []
    for name in names:
        values: dict[str, list[str | float]] = {}
        if draw(st.booleans()):
            values["stage"] = [float(draw(st.sampled_from([v for _, v in STAGES])))]
        if draw(st.booleans()):
            values["framework"] = [draw(st.sampled_from(FRAMEWORKS))]
        if draw(st.booleans()):
            values["score"] = [draw(st.sampled_from(SCORES))]
        if draw(st.booleans()):
            values["end_time"] = [float(T0 + draw(time_offsets()))]
        tags = draw(st.lists(st.sampled_from(TAGS), max_size=2, unique=True))
        if tags:
            values["tags"] = list(tags)
        result.append(
            Sample(
                name=name,
                status=draw(st.sampled_from([ACTIVE, DEPRECATED, ARCHIVED])),
                create_time=T0 + draw(time_offsets()),
                update_time=T0 + draw(time_offsets()),
                labels=draw(
                    st.dictionaries(
                        st.sampled_from(LABEL_KEYS), st.sampled_from(LABEL_VALUES), max_size=3
                    )
                ),
                values=values,
            )
        )
    return result


@PROPERTY
@given(
    population=samples(),
    tree=FILTERS,
    style=st.integers(0, 3),
    order=ORDERS | FIELD_ORDERS,
    page_size=st.integers(1, 5),
)
def test_filters_agree_with_the_oracle(
    store: SqlStore,
    population: list[Sample],
    tree: Tree | Leaf,
    style: int,
    order: list[OrderKey],
    page_size: int,
) -> None:
    ws = new_workspace()
    records = [s.record(ws) for s in population]
    # Decoys with the same fields in another kind and another workspace must never match.
    decoys = [s.record(ws, kind=OTHER_KIND) for s in population[:3]]
    decoys += [s.record(new_workspace()) for s in population[:3]]
    insert_all(store, records + decoys)
    text = render(tree, style)
    expected = [r for r, s in zip(records, population, strict=True) if evaluate(tree, s)]
    query = ListQuery(
        ws,
        KIND,
        filter=parse_filter(text),
        order_by=order,
        page_size=page_size,
        members=MEMBERS,
    )
    got = list_all(store, query)
    assert [r.id for r in got] == [r.id for r in in_order(expected, order)], text


FIXED = [
    Sample(
        "alpha",
        ACTIVE,
        T0,
        T0 + 10,
        {"env": "prod", "team": "ml"},
        {"stage": [1.0], "framework": ["torch"], "score": [0.5], "tags": ["a", "b"]},
    ),
    Sample("Beta", DEPRECATED, T0 + 1, T0 + 20, {"env": "dev"}, {"stage": [2.0], "score": [2.0]}),
    Sample("gamma", ARCHIVED, T0 + 2, T0 + 30, {}, {"stage": [0.0], "end_time": [float(T0 + 5)]}),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('name = "ALPHA"', ["alpha"]),
        ('name != "alpha"', ["Beta", "gamma"]),
        ('name < "beta"', ["alpha"]),
        ('name >= "beta"', ["Beta", "gamma"]),
        ("status = ACTIVE", ["alpha"]),
        ("status != ACTIVE", ["Beta", "gamma"]),
        ("status > ACTIVE AND status <= DEPRECATED", ["Beta"]),
        (f"create_time > {quote(rfc3339(T0))}", ["Beta", "gamma"]),
        (f"update_time <= {quote(rfc3339(T0 + 20))}", ["alpha", "Beta"]),
        ('labels.env = "prod"', ["alpha"]),
        ('labels.env:"prod"', ["alpha"]),
        ('labels.env != "prod"', ["Beta", "gamma"]),
        ("labels:team", ["alpha"]),
        ("labels.env:*", ["alpha", "Beta"]),
        ("NOT labels:env", ["gamma"]),
        ("stage = TRAIN", ["alpha"]),
        ("stage = STAGE_EVAL", ["Beta"]),
        ("stage = UNSPECIFIED", ["gamma"]),
        ("stage >= EVAL", ["Beta"]),
        ('framework = "torch"', ["alpha"]),
        ("framework:*", ["alpha"]),
        ("score > 1", ["Beta"]),
        ("score <= 0.5 OR labels.env = dev", ["alpha", "Beta"]),
        ('tags = "b"', ["alpha"]),
        ('tags != "a"', ["Beta", "gamma"]),
        (f"end_time < {quote(rfc3339(T0 + 6))}", ["gamma"]),
        ('(status = ACTIVE OR status = ARCHIVED) AND NOT name = "gamma"', ["alpha"]),
        ("NOT labels:team score:*", ["Beta"]),
    ],
)
def test_filter_examples(store: SqlStore, text: str, expected: list[str]) -> None:
    ws = new_workspace()
    insert_all(store, [s.record(ws) for s in FIXED])
    with store.transaction(write=False) as tx:
        page = tx.list_page(ListQuery(ws, KIND, filter=parse_filter(text), members=MEMBERS))
    assert [r.name for r in page.records] == expected


def test_filter_by_an_enum_value_numbered_zero(store: SqlStore) -> None:
    """``STAGE_UNSPECIFIED`` (number 0) is a value of the enum like any other."""
    ws = new_workspace()
    insert_all(store, [s.record(ws) for s in FIXED])
    with store.transaction(write=False) as tx:
        page = tx.list_page(
            ListQuery(ws, KIND, filter=parse_filter("stage = STAGE_UNSPECIFIED"), members=MEMBERS)
        )
    assert [r.name for r in page.records] == ["gamma"]


def test_time_filters_are_exact_to_the_microsecond(store: SqlStore) -> None:
    """A timestamp written with microseconds compares equal to the stored microseconds."""
    ws = new_workspace()
    micros = 2_169_918_679_596_863  # 2038-10-05T19:11:19.596863Z
    written = quote(rfc3339(micros))
    assert written == '"2038-10-05T19:11:19.596863Z"'
    (record,) = insert_all(
        store,
        [make(ws, "t", create_time=micros, fields=[FieldValue("end_time", num=float(micros))])],
    )
    for text in (
        f"create_time = {written}",
        f"create_time <= {written}",
        f"end_time = {written}",
        f"end_time <= {written}",
    ):
        with store.transaction(write=False) as tx:
            page = tx.list_page(ListQuery(ws, KIND, filter=parse_filter(text), members=MEMBERS))
        assert [r.id for r in page.records] == [record.id], text


@pytest.mark.parametrize(
    "text",
    [
        "nope = 1",
        "labels = prod",
        "labels.env > *",
        "status = RETIRED",
        'create_time > "yesterday"',
        'create_time > "2025-01-01T00:00:00"',  # no time zone
        "stage = NOT_A_STAGE",
        'score > "high"',
        "end_time < 12",
        "name = (",
    ],
)
def test_bad_filters_are_invalid_arguments(store: SqlStore, text: str) -> None:
    with pytest.raises(errors.InvalidArgument), store.transaction(write=False) as tx:
        tx.list_page(ListQuery(new_workspace(), KIND, filter=parse_filter(text), members=MEMBERS))


# -- lineage ------------------------------------------------------------------------------


def walk(store: SqlStore, ws: str, start: str, *, upstream: bool, depth: int) -> dict[str, int]:
    with store.transaction(write=False) as tx:
        return tx.walk_edges(ws, start, upstream=upstream, max_depth=depth)[0]


def test_walk_a_chain(store: SqlStore) -> None:
    ws = new_workspace()
    with store.transaction() as tx:
        tx.add_edges(ws, [("a", "b", 1), ("b", "c", 1), ("c", "d", 2), ("d", "e", 1)])
        tx.add_edges(new_workspace(), [("e", "f", 1), ("z", "a", 1)])  # invisible here
    assert walk(store, ws, "a", upstream=False, depth=10) == {
        "a": 0,
        "b": 1,
        "c": 2,
        "d": 3,
        "e": 4,
    }
    assert walk(store, ws, "a", upstream=False, depth=2) == {"a": 0, "b": 1, "c": 2}
    assert walk(store, ws, "a", upstream=False, depth=0) == {"a": 0}
    assert walk(store, ws, "e", upstream=True, depth=10) == {"e": 0, "d": 1, "c": 2, "b": 3, "a": 4}
    assert walk(store, ws, "d", upstream=True, depth=1) == {"d": 0, "c": 1}
    assert walk(store, ws, "a", upstream=True, depth=10) == {"a": 0}
    assert walk(store, ws, "unknown", upstream=False, depth=3) == {"unknown": 0}


def test_walk_a_diamond_reports_the_shortest_depth(store: SqlStore) -> None:
    ws = new_workspace()
    edges = [("a", "b", 1), ("a", "c", 1), ("b", "d", 1), ("c", "d", 1), ("d", "e", 1)]
    with store.transaction() as tx:
        tx.add_edges(ws, [*edges, ("a", "e", 3)])
    assert walk(store, ws, "a", upstream=False, depth=5) == {"a": 0, "b": 1, "c": 1, "d": 2, "e": 1}
    assert walk(store, ws, "e", upstream=True, depth=5) == {"e": 0, "d": 1, "a": 1, "b": 2, "c": 2}
    assert walk(store, ws, "e", upstream=True, depth=1) == {"e": 0, "d": 1, "a": 1}
    assert walk(store, ws, "b", upstream=False, depth=5) == {"b": 0, "d": 1, "e": 2}


def test_walk_terminates_on_a_cycle(store: SqlStore) -> None:
    ws = new_workspace()
    with store.transaction() as tx:
        tx.add_edges(ws, [("a", "b", 1), ("b", "c", 1), ("c", "a", 1)])
    assert walk(store, ws, "a", upstream=False, depth=50) == {"a": 0, "b": 1, "c": 2}
    assert walk(store, ws, "a", upstream=True, depth=50) == {"a": 0, "c": 1, "b": 2}


def test_walk_a_long_chain_in_sql(store: SqlStore) -> None:
    ws = new_workspace()
    nodes = [f"n{i:03d}" for i in range(150)]
    with store.transaction() as tx:
        tx.add_edges(ws, [(s, d, 1) for s, d in itertools.pairwise(nodes)])
    assert walk(store, ws, nodes[0], upstream=False, depth=100) == {
        n: i for i, n in enumerate(nodes[:101])
    }
    assert walk(store, ws, nodes[-1], upstream=True, depth=200) == {
        n: 149 - i for i, n in enumerate(nodes)
    }


def test_walks_return_the_edges_they_traverse(store: SqlStore) -> None:
    ws = new_workspace()
    with store.transaction() as tx:
        tx.add_edges(ws, [("a", "b", 1), ("a", "b", 2), ("b", "c", 1), ("c", "d", 1)])
        tx.add_edges(ws, [("a", "b", 1)])  # already there: kept once
        tx.add_edges(ws, [])
        tx.add_edges(new_workspace(), [("a", "c", 1)])
    with store.transaction(write=False) as tx:
        nodes, edges = tx.walk_edges(ws, "a", upstream=False, max_depth=2)
        assert nodes == {"a": 0, "b": 1, "c": 2}
        assert edges == {("a", "b", 1), ("a", "b", 2), ("b", "c", 1)}
        nodes, edges = tx.walk_edges(ws, "c", upstream=True, max_depth=5)
        assert nodes == {"c": 0, "b": 1, "a": 2}
        assert edges == {("a", "b", 1), ("a", "b", 2), ("b", "c", 1)}
        assert tx.walk_edges(ws, "zzz", upstream=True, max_depth=5) == ({"zzz": 0}, set())


# -- idempotency, metrics, logs -----------------------------------------------------------


def test_recall_and_remember(store: SqlStore) -> None:
    ws = new_workspace()
    with store.transaction() as tx:
        assert tx.recall(ws, "Create", "req-1") is None
        tx.remember(ws, "Create", "req-1", "h" * 64, b"\x00response")
    with store.transaction(write=False) as tx:
        assert tx.recall(ws, "Create", "req-1") == ("h" * 64, b"\x00response")
        assert tx.recall(ws, "Update", "req-1") is None
        assert tx.recall(new_workspace(), "Create", "req-1") is None
        assert tx.recall(ws, "Create", "req-2") is None


def metric(key: str, step: int, value: float, micros: int) -> bytes:
    point = Metric(key=key, step=step)
    point.value.double_value = value
    point.timestamp.FromMicroseconds(micros)
    return point.SerializeToString()


def test_metrics_append_and_history(store: SqlStore) -> None:
    # Logged out of order: the history reads by step, then time, then recording order.
    logged = [(4, T0 + 4), (0, T0 + 9), (2, T0 + 2), (0, T0), (2, T0 + 2), (1, T0 + 1)]
    loss = [metric("loss", step, float(i), t) for i, (step, t) in enumerate(logged)]
    with store.transaction() as tx:
        tx.append_metrics(
            [("run1", "loss", step, t, loss[i]) for i, (step, t) in enumerate(logged)]
            + [("run1", "acc", 0, T0, metric("acc", 0, 1.0, T0))]
            + [("run2", "loss", 0, T0, metric("loss", 0, 9.0, T0))]
        )
        tx.append_metrics([])
    with store.transaction(write=False) as tx:
        history = tx.metric_history("run1", "loss", None, 100)
        assert [d for _, d in history] == [loss[i] for i in (3, 1, 5, 2, 4, 0)]
        positions = [p for p, _ in history]
        assert positions == sorted(positions) and len(set(positions)) == 6
        first = tx.metric_history("run1", "loss", None, 2)
        assert first == history[:2]
        assert tx.metric_history("run1", "loss", first[-1][0], 2) == history[2:4]
        assert tx.metric_history("run1", "loss", history[3][0], 2) == history[4:6]
        assert tx.metric_history("run1", "loss", history[-1][0], 2) == []
        assert [d for _, d in tx.metric_history("run2", "loss", None, 10)] == [
            metric("loss", 0, 9.0, T0)
        ]
        assert tx.metric_history("run3", "loss", None, 10) == []


def test_value_only_metrics_are_read_back_whole(store: SqlStore) -> None:
    # A point stored without key, step and timestamp (they are in the row's columns).
    value_only = Metric()
    value_only.value.double_value = 0.25
    with store.transaction() as tx:
        tx.append_metrics([("run1", "loss", 7, T0 + 3, value_only.SerializeToString())])
    with store.transaction(write=False) as tx:
        [(_, data)] = tx.metric_history("run1", "loss", None, 10)
    assert Metric.FromString(data) == Metric.FromString(metric("loss", 7, 0.25, T0 + 3))


def test_logs_append_and_read(store: SqlStore) -> None:
    ws = new_workspace()
    with store.transaction() as tx:
        assert tx.last_log(ws, "s1") is None
        tx.append_logs(
            ws,
            [
                LogRow("s1", q, T0 + q, "mv1" if q < 3 else "mv2", f"h{q}", f"d{q}".encode())
                for q in range(1, 6)
            ]
            + [LogRow("s2", 1, T0, "mv1", "x1", b"s2-1")],
        )
        tx.append_logs(new_workspace(), [LogRow("s1", 9, T0, "", "zz", b"elsewhere")])
    with store.transaction(write=False) as tx:
        assert tx.last_log(ws, "s1") == (5, "h5")
        assert tx.last_log(ws, "s2") == (1, "x1")
        assert [q for q, _ in tx.logs(ws, "s1", 0, 100)] == [1, 2, 3, 4, 5]
        assert tx.logs(ws, "s1", 0, 100)[0] == (1, b"d1")
        assert [q for q, _ in tx.logs(ws, "s1", 2, 2)] == [3, 4]
        assert [q for q, _ in tx.logs(ws, "s1", 0, 100, until_sequence=3)] == [1, 2, 3]
        window = tx.logs(ws, "s1", 0, 100, start_time=T0 + 2, end_time=T0 + 4)
        assert [q for q, _ in window] == [2, 3]
        assert [q for q, _ in tx.logs(ws, "s1", 0, 100, model_version_id="mv2")] == [3, 4, 5]
        every_stream = tx.logs(ws, "", 0, 100)
        assert [d for _, d in every_stream] == [b"d1", b"d2", b"d3", b"d4", b"d5", b"s2-1"]


def test_log_pages_walk_every_stream_both_ways(store: SqlStore) -> None:
    ws = new_workspace()
    with store.transaction() as tx:
        tx.append_logs(
            ws,
            [
                LogRow(s, q, T0 + q, "", f"{s}{q}", f"{s}{q}".encode())
                for s in ("b", "a")
                for q in (1, 2, 3)
            ],
        )
    with store.transaction(write=False) as tx:
        for descending in (False, True):
            seen: list[tuple[str, int]] = []
            position = None
            while rows := tx.log_page(ws, "", position, 2, descending=descending):
                seen += [p for p, _ in rows]
                position = rows[-1][0]
            expected = [(s, q) for s in ("a", "b") for q in (1, 2, 3)]
            assert seen == (expected[::-1] if descending else expected)
        assert [p for p, _ in tx.log_page(ws, "b", ("b", 1), 10)] == [("b", 2), ("b", 3)]
        assert tx.log_page(ws, "a", None, 1)[0] == (("a", 1), b"a1")
        window = tx.log_page(ws, "a", None, 10, start_time=T0 + 2, end_time=T0 + 3)
        assert [p for p, _ in window] == [("a", 2)]


def test_event_pages_newest_or_oldest_first(store: SqlStore) -> None:
    ws = new_workspace()
    with store.transaction() as tx:
        # Two events share a time: the sequence breaks the tie, so paging is exact.
        times = [T0 + 5, T0 + 1, T0 + 5, T0 + 3]
        tx.append_events(
            ws,
            [
                EventRow(kind=7, key=f"k{i}", time=t, data=f"e{i}".encode())
                for i, t in enumerate(times)
            ],
        )
    with store.transaction(write=False) as tx:
        for oldest_first in (False, True):
            seen: list[bytes] = []
            after = None
            while rows := tx.events_page(ws, [7], after=after, oldest_first=oldest_first, limit=1):
                seen += [data for _, _, _, data in rows]
                after = (rows[-1][2], rows[-1][0])
            newest = [b"e2", b"e0", b"e3", b"e1"]
            assert seen == (newest[::-1] if oldest_first else newest)


# -- transactions -------------------------------------------------------------------------


class Boom(Exception):
    """Raised on purpose inside a transaction."""


def test_a_failing_transaction_writes_nothing(store: SqlStore) -> None:
    ws = new_workspace()
    (kept,) = insert_all(store, [make(ws, "kept")])
    doomed = make(ws, "doomed", fields=[FieldValue("labels.env", text="prod")])
    changed = make(ws, "changed-name", status=DEPRECATED)
    changed.id = kept.id
    with pytest.raises(Boom), store.transaction() as tx:
        tx.insert(doomed)
        tx.replace(changed, kept.etag)
        tx.add_edges(ws, [(doomed.id, kept.id, 1)])
        tx.remember(ws, "Create", "req", "h", b"resp")
        tx.append_metrics([(doomed.id, "loss", 0, T0, metric("loss", 0, 1.0, T0))])
        tx.append_logs(ws, [LogRow("stream", 1, T0, "", "h", b"d")])
        raise Boom
    with store.transaction(write=False) as tx:
        assert tx.get(ws, doomed.id) is None
        assert tx.find_by_name(ws, KIND, "", "doomed") is None
        still = tx.get(ws, kept.id)
        assert still is not None
        assert columns(still) == columns(kept)
        labelled = tx.list_page(ListQuery(ws, KIND, filter=parse_filter("labels:env")))
        assert labelled.records == []
        assert tx.walk_edges(ws, doomed.id, upstream=False, max_depth=3) == ({doomed.id: 0}, set())
        assert tx.recall(ws, "Create", "req") is None
        assert tx.metric_history(doomed.id, "loss", None, 10) == []
        assert tx.last_log(ws, "stream") is None
    # The name the failed transaction used is still free.
    insert_all(store, [make(ws, "doomed")])


def test_a_domain_error_rolls_back_earlier_writes(store: SqlStore) -> None:
    ws = new_workspace()
    insert_all(store, [make(ws, "taken")])
    first = make(ws, "first")
    with pytest.raises(errors.AlreadyExists), store.transaction() as tx:
        tx.insert(first)
        tx.insert(make(ws, "Taken"))
    with store.transaction(write=False) as tx:
        assert tx.get(ws, first.id) is None


# -- schema -------------------------------------------------------------------------------


def test_check_schema_on_an_empty_database(database_url: str) -> None:
    store = SqlStore(database_url)
    try:
        with pytest.raises(SchemaOutOfDate, match="mlspec db upgrade"):
            store.check_schema()
        store.upgrade()
        store.check_schema()
        store.upgrade()  # idempotent
        store.check_schema()
        current, head = store.schema_revisions()
        assert current == head
        assert head is not None
    finally:
        store.dispose()


def test_migrations_produce_exactly_the_schema(store: SqlStore) -> None:
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_size_grows_with_what_is_stored(store: SqlStore) -> None:
    before = store.size_bytes()
    assert before > 0
    ws = new_workspace()
    with store.transaction() as tx:
        for i in range(200):
            tx.insert(make(ws, f"sized-{i}", data=bytes(4000)))
    assert store.size_bytes() > before
