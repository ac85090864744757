"""Schema migrations on both backends: partial field indexes (0003), data kept across them.

``resource_fields`` rows hold a text or a number, never both, so revision 0003 makes each
value index partial. Alembic's schema comparison ignores index predicates, so these tests
read the predicates back from the database catalog and compare them with schema.py. Stores
that already hold rows at 0002 must answer the same filters after the upgrade, and a
downgrade followed by an upgrade must leave a working store.
"""

from __future__ import annotations

import pathlib
import re
import uuid
from collections.abc import Callable, Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from mlspec.query import OrderKey, parse_filter
from mlspec.store.api import FieldSpec, FieldValue, ListQuery, ResourceRecord
from mlspec.store.sql import SqlStore, alembic_config
from mlspec.store.sql.schema import metadata

KIND = 7
OTHER_KIND = 8
T0 = 1_750_000_000_000_000
PARTIAL = {
    "ix_resource_fields_text": "value_text IS NOT NULL",
    "ix_resource_fields_num": "value_num IS NOT NULL",
}
MEMBERS = {
    "stage": FieldSpec("enum", (("STAGE_UNSPECIFIED", 0), ("STAGE_TRAIN", 1), ("STAGE_EVAL", 2))),
    "framework": FieldSpec("text"),
    "score": FieldSpec("num"),
    "end_time": FieldSpec("time"),
}


@pytest.fixture
def bare_store(database_url: str) -> Iterator[SqlStore]:
    """A store on an empty database of each backend, left at no revision."""
    store = SqlStore(database_url)
    try:
        yield store
    finally:
        store.dispose()


def alembic(store: SqlStore, step: Callable[[Config], None]) -> None:
    """Runs an alembic command on the store's engine, the way ``SqlStore.upgrade`` does."""
    config = alembic_config(store.url)
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        step(config)


def to_revision(store: SqlStore, revision: str) -> None:
    alembic(store, lambda config: command.upgrade(config, revision))


def down_to(store: SqlStore, revision: str) -> None:
    alembic(store, lambda config: command.downgrade(config, revision))


def normalized(predicate: str | None) -> str | None:
    """An index predicate without the parentheses and spelling each catalog adds."""
    if predicate is None:
        return None
    flat = predicate.replace("(", " ").replace(")", " ").replace('"', "").replace("<>", "!=")
    return re.sub(r"\s+", " ", flat).strip().lower()


def database_predicates(store: SqlStore) -> dict[str, str | None]:
    """Index name -> its WHERE predicate (None for a full index), read from the catalog."""
    with store.engine.connect() as conn:
        if store.is_sqlite:
            rows = conn.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
            )
            found = {}
            for name, sql in rows:
                _, where, predicate = sql.partition(" WHERE ")
                found[name] = predicate if where else None
            return {n: normalized(p) for n, p in found.items()}
        rows = conn.execute(
            text(
                "SELECT c.relname, pg_get_expr(i.indpred, i.indrelid) FROM pg_index i"
                " JOIN pg_class c ON c.oid = i.indexrelid"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = current_schema() AND NOT i.indisprimary"
            )
        )
        return {name: normalized(predicate) for name, predicate in rows}


def schema_predicates(dialect: str) -> dict[str, str | None]:
    """Index name -> the WHERE predicate schema.py declares for ``dialect``."""
    found: dict[str, str | None] = {}
    for table in metadata.tables.values():
        for index in table.indexes:
            assert index.name is not None
            where = index.dialect_kwargs.get(f"{dialect}_where")
            found[index.name] = normalized(None if where is None else str(where))
    return found


def assert_index_predicates_match_the_schema(store: SqlStore) -> None:
    actual = database_predicates(store)
    expected = schema_predicates("sqlite" if store.is_sqlite else "postgresql")
    assert {n: actual.get(n, "<missing>") for n in expected} == expected


def record(workspace: str, name: str, fields: list[FieldValue], kind: int = KIND) -> ResourceRecord:
    return ResourceRecord(
        id=f"{name}-{uuid.uuid4().hex[:12]}",
        workspace=workspace,
        kind=kind,
        scope="",
        name=name,
        status=1,
        create_time=T0,
        update_time=T0,
        etag=uuid.uuid4().hex[:16],
        data=name.encode(),
        fields=fields,
    )


def populate(store: SqlStore, workspace: str) -> None:
    """Twenty records of KIND with labels and typed fields, plus decoys that never match."""
    records = []
    for n in range(20):
        fields = [
            FieldValue("labels.env", text="prod" if n % 2 else "dev"),
            FieldValue("labels.team", text=f"team-{n % 4}"),
            FieldValue("score", num=float(n)),
            FieldValue("stage", num=float(n % 3)),
        ]
        if n % 5 == 0:
            fields.append(FieldValue("framework", text="torch"))
            fields.append(FieldValue("labels.tier", text=""))  # an empty value is a value
        if n % 7 == 0:
            fields.append(FieldValue("end_time", num=float(T0 + n)))
        records.append(record(workspace, f"r{n:02d}", fields))
    decoy_fields = [FieldValue("labels.env", text="prod"), FieldValue("score", num=5.0)]
    records.append(record(workspace, "other-kind", decoy_fields, kind=OTHER_KIND))
    records.append(record(f"other-{workspace}", "other-ws", decoy_fields))
    with store.transaction() as tx:
        for r in records:
            tx.insert(r)


# Filters that exercise each index path (driver join, EXISTS probes with =, !=, ranges and
# presence tests), and the names they select among populate()'s records.
EXPECTED = {
    'labels.env = "prod"': [f"r{n:02d}" for n in range(1, 20, 2)],
    'labels.env != "prod"': [f"r{n:02d}" for n in range(0, 20, 2)],
    'labels.team:"team-3"': ["r03", "r07", "r11", "r15", "r19"],
    'labels.team >= "team-3"': ["r03", "r07", "r11", "r15", "r19"],
    "labels:tier": ["r00", "r05", "r10", "r15"],
    'labels.tier = ""': ["r00", "r05", "r10", "r15"],
    "NOT labels.tier:*": [f"r{n:02d}" for n in range(20) if n % 5],
    "score > 16": ["r17", "r18", "r19"],
    "score >= 3 AND score < 5": ["r03", "r04"],
    "score != 0 AND score <= 2": ["r01", "r02"],
    "score:*": [f"r{n:02d}" for n in range(20)],
    "stage = STAGE_EVAL": ["r02", "r05", "r08", "r11", "r14", "r17"],
    "stage < TRAIN": ["r00", "r03", "r06", "r09", "r12", "r15", "r18"],
    'framework = "torch" AND labels.env = dev': ["r00", "r10"],
    "end_time:*": ["r00", "r07", "r14"],
    'labels.env = "prod" AND score > 14': ["r15", "r17", "r19"],
    'labels.team = "team-1" OR score < 1': ["r00", "r01", "r05", "r09", "r13", "r17"],
}


def answers(store: SqlStore, workspace: str) -> dict[str, list[str]]:
    """The names each filter in EXPECTED selects, in pages of 3, default and by name."""
    found = {}
    for filter_text in EXPECTED:
        for order in ([], [OrderKey("name")]):
            query = ListQuery(
                workspace,
                KIND,
                filter=parse_filter(filter_text),
                order_by=order,
                page_size=3,
                members=MEMBERS,
            )
            names: list[str] = []
            while True:
                with store.transaction(write=False) as tx:
                    page = tx.list_page(query)
                names.extend(r.name for r in page.records)
                if not page.more:
                    break
                query.after = page.last
            found[f"{filter_text} | order {[k.member for k in order]}"] = names
    return found


def expected_answers() -> dict[str, list[str]]:
    return {
        f"{f} | order {order}": names for f, names in EXPECTED.items() for order in ([], ["name"])
    }


def test_head_has_partial_value_indexes(store: SqlStore) -> None:
    predicates = database_predicates(store)
    for name, predicate in PARTIAL.items():
        assert predicates[name] == normalized(predicate)
    assert predicates["ix_resource_fields_owner"] is None
    assert_index_predicates_match_the_schema(store)


def test_upgrading_a_populated_0002_store_keeps_its_rows_filterable(bare_store: SqlStore) -> None:
    to_revision(bare_store, "0002")
    assert bare_store.schema_revisions()[0] == "0002"
    assert all(database_predicates(bare_store)[name] is None for name in PARTIAL)
    workspace = f"ws-{uuid.uuid4().hex[:8]}"
    populate(bare_store, workspace)
    assert answers(bare_store, workspace) == expected_answers()

    bare_store.upgrade()
    bare_store.check_schema()
    assert_index_predicates_match_the_schema(bare_store)
    assert answers(bare_store, workspace) == expected_answers()
    # Rows written after the upgrade land in the partial indexes too.
    more = f"ws-{uuid.uuid4().hex[:8]}"
    populate(bare_store, more)
    assert answers(bare_store, more) == expected_answers()


def test_downgrade_to_0002_and_upgrade_again(store: SqlStore) -> None:
    workspace = f"ws-{uuid.uuid4().hex[:8]}"
    populate(store, workspace)

    down_to(store, "0002")
    assert store.schema_revisions()[0] == "0002"
    predicates = database_predicates(store)
    assert all(predicates[name] is None for name in PARTIAL)
    assert answers(store, workspace) == expected_answers()

    store.upgrade()
    store.check_schema()
    assert_index_predicates_match_the_schema(store)
    assert answers(store, workspace) == expected_answers()
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_upgrade_keeps_sqlite_planner_statistics(tmp_path: pathlib.Path) -> None:
    # An analyzed SQLite database would lose the statistics of the rebuilt indexes and
    # plan range filters differently; the migration analyzes them again.
    store = SqlStore(f"sqlite:///{tmp_path / 'analyzed.db'}")
    try:
        to_revision(store, "0002")
        populate(store, "ws")
        with store.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        store.upgrade()
        with store.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT idx, stat FROM sqlite_stat1 WHERE tbl = 'resource_fields'"
            ).all()
        stats: dict[str, str] = {str(idx): str(stat) for idx, stat in rows}
        # Fresh statistics: each field row is counted in exactly one value index.
        text_rows = int(stats["ix_resource_fields_text"].split()[0])
        num_rows = int(stats["ix_resource_fields_num"].split()[0])
        owner_rows = int(stats["ix_resource_fields_owner"].split()[0])
        assert text_rows + num_rows == owner_rows
    finally:
        store.dispose()


def test_upgrade_leaves_an_unanalyzed_sqlite_database_unanalyzed(tmp_path: pathlib.Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'plain.db'}")
    try:
        to_revision(store, "0002")
        store.upgrade()
        with store.engine.connect() as conn:
            tables = conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE name LIKE 'sqlite_stat%'"
            ).all()
        assert tables == []
    finally:
        store.dispose()
