"""Builds (once) an SQLite store holding 1,000,000 artifacts and stage reports.

The resources are written with the same serialized messages, filter-index rows and
lineage edges the server writes, but in bulk, straight into the migrated schema (going
through the API would take an hour on this machine). Like a store the server grew, it
holds no planner statistics (no ANALYZE). They form 1,000 lineage chains of
1,000 nodes (artifact -> report -> artifact -> ...); artifacts carry the labels
``team=team-<0..99>`` and ``env=prod|dev``. The file is kept under build/bench/ and
reused while its size marker matches; a store at an older schema revision is migrated in
place (``SqlStore.upgrade``), which takes far less time than building it again.
"""

from __future__ import annotations

import pathlib
import sqlite3
import time
import uuid

from bench.common import ROOT
from mlspec.common.v1 import object_meta_pb2
from mlspec.data.v1 import artifact_pb2
from mlspec.domain.common.kinds import BY_KIND, index_values
from mlspec.lifecycle.v1 import lineage_pb2, stage_pb2, stage_report_pb2
from mlspec.store.sql import SqlStore

WORKSPACE = "default"
CHAIN = 1000
ARTIFACT = 2
REPORT = 15
BATCH = 20_000


def store_path(total: int) -> pathlib.Path:
    """Where the store of ``total`` resources lives."""
    return ROOT / "build" / "bench" / f"store-{total}.db"


def chain_node_id(chain: int, position: int) -> str:
    """The deterministic id of a node (so benchmarks can address the middle of a chain)."""
    return str(uuid.UUID(int=(chain << 32) | position))


def build(total: int = 1_000_000, progress: bool = True) -> str:
    """Returns the URL of a store holding ``total`` resources, building it if needed."""
    path = store_path(total)
    url = f"sqlite:///{path}"
    marker = path.with_suffix(".done")
    if path.exists() and _marker_matches(marker, total):
        migrate(url, total)
        forget_statistics(path)
        return url
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in (
        path,
        marker,
        path.with_name(path.name + "-wal"),
        path.with_name(path.name + "-shm"),
    ):
        stale.unlink(missing_ok=True)
    store = SqlStore(url)
    store.upgrade()
    store.dispose()
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("BEGIN")
    resources: list[tuple[object, ...]] = []
    fields: list[tuple[object, ...]] = []
    edges: list[tuple[object, ...]] = []
    seq = 0
    chains = total // CHAIN
    base = 1_700_000_000_000_000
    for chain in range(chains):
        for position in range(CHAIN):
            seq += 1
            node = chain_node_id(chain, position)
            now = base + seq
            meta = object_meta_pb2.ObjectMeta(
                id=node, workspace=WORKSPACE, status=1, etag=node[:20]
            )
            meta.create_time.FromMicroseconds(now)
            meta.update_time.FromMicroseconds(now)
            if position % 2 == 0:
                kind = ARTIFACT
                meta.name = f"out-{position}"
                meta.labels["team"] = f"team-{seq % 100}"
                meta.labels["env"] = "prod" if seq % 2 else "dev"
                message = artifact_pb2.Artifact(
                    meta=meta,
                    run_id=f"run-{chain}",
                    uri=f"s3://bench/{chain}/{position}",
                    size_bytes=seq,
                )
                scope = f"run-{chain}"
            else:
                kind = REPORT
                message = stage_report_pb2.StageReport(
                    meta=meta,
                    stage=stage_pb2.LIFECYCLE_STAGE_DATA_TRANSFORMATION,
                    run_id=f"run-{chain}",
                    status=1,
                )
                message.inputs.add(
                    resource={"kind": ARTIFACT, "id": chain_node_id(chain, position - 1)}
                )
                message.outputs.add(
                    resource={"kind": ARTIFACT, "id": chain_node_id(chain, position + 1)}
                )
                scope = f"run-{chain}"
            name = meta.name or None
            resources.append(
                (
                    seq,
                    node,
                    WORKSPACE,
                    kind,
                    scope,
                    name,
                    name.lower() if name else None,
                    1,
                    now,
                    now,
                    node[:20],
                    message.SerializeToString(),
                )
            )
            fields.extend(
                (seq, kind, f.key, f.text, f.num) for f in index_values(BY_KIND[kind], message)
            )
            if position > 0:
                relation = (
                    lineage_pb2.LINEAGE_EDGE_KIND_CONSUMED
                    if kind == REPORT
                    else lineage_pb2.LINEAGE_EDGE_KIND_PRODUCED
                )
                edges.append((WORKSPACE, chain_node_id(chain, position - 1), node, relation))
        if len(resources) >= BATCH or chain == chains - 1:
            con.executemany(
                "INSERT INTO resources (seq, id, workspace, kind, scope, name, name_lower, status, create_time, update_time, etag, data) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                resources,
            )
            con.executemany(
                "INSERT INTO resource_fields (resource_seq, kind, key, value_text, value_num) VALUES (?,?,?,?,?)",
                fields,
            )
            con.executemany(
                "INSERT INTO lineage_edges (workspace, src_id, dst_id, relation) VALUES (?,?,?,?)",
                edges,
            )
            resources, fields, edges = [], [], []
            if progress:
                print(f"  built {seq:,} of {total:,} resources", flush=True)
    con.execute("COMMIT")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    marker.write_text(f"{total}\n")
    return url


def _marker_matches(marker: pathlib.Path, total: int) -> bool:
    """Whether the marker says a complete store of ``total`` resources was built.

    Markers written before they held the size say "ok"; the file name carries the size.
    """
    if not marker.exists():
        return False
    written = marker.read_text().strip()
    return written in ("ok", str(total))


def forget_statistics(path: pathlib.Path) -> None:
    """Drops the planner statistics an older version of this script left (it ran ANALYZE).

    The live server never runs ANALYZE, so a benchmark store must not hold statistics
    either: SQLite plans differently with them (issue 8 measured 6-9x).
    """
    con = sqlite3.connect(path, isolation_level=None)
    try:
        tables = [
            name
            for (name,) in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'sqlite_stat%'"
            )
        ]
        for name in tables:
            con.execute(f"DROP TABLE {name}")
        if tables:
            print(f"  dropped the planner statistics of the cached store ({', '.join(tables)})")
    finally:
        con.close()


def migrate(url: str, total: int) -> None:
    """Upgrades a cached store to the newest schema revision in place, if it is older."""
    store = SqlStore(url)
    try:
        current, head = store.schema_revisions()
        if current == head:
            return
        print(f"  migrating the cached store from schema {current} to {head}", flush=True)
        started = time.perf_counter()
        store.upgrade()
        elapsed = time.perf_counter() - started
        with store.engine.connect() as conn:  # fold the migration's WAL into the file
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        print(f"  migrated the store of {total:,} resources in {elapsed:.1f} s", flush=True)
    finally:
        store.dispose()


if __name__ == "__main__":
    print(build())
