"""ML Metadata's side of the lineage and list benchmark, run in ML Metadata's own venv.

ML Metadata 1.17 needs Python 3.11 and protobuf 4, so it cannot share the project's
virtual environment: ``bench/mlmd_env.py`` creates one under build/bench/ and the
benchmark starts this script there as a subprocess. It imports nothing of MLSpec. It
reads one JSON command per line on stdin and answers each with one JSON line on stdout:

- ``{"op": "chains", "chains": C, "length": L}``: C chains of L nodes, data versions
  (artifacts) and stage reports (executions) alternating, joined by INPUT and OUTPUT
  events, the same graph the MLSpec side grows through its API;
- ``{"op": "runs", "count": N, "teams": T}``: N runs (executions of type Run) labelled
  ``team = team-<i % T>`` and ``env = prod|dev`` as custom properties;
- ``{"op": "lineage", "chain": c, "hops": H, "count": K}``: K timed
  ``get_lineage_subgraph`` calls, H hops upstream from the last artifact of chain c;
- ``{"op": "list", "team": "team-7", "limit": 100, "count": K}``: K timed
  ``get_executions`` calls filtered on the team label, oldest first, at most ``limit``.

The store is ML Metadata's embedded SQLite, in a file (as MLSpec's default is), used in
process: no RPC, which is how the outside comparison in issue 8 ran it.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from typing import Any

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2 as mlmd


class Driver:
    """One ML Metadata store and the commands run against it."""

    def __init__(self, path: str) -> None:
        config = mlmd.ConnectionConfig()
        config.sqlite.filename_uri = path
        config.sqlite.connection_mode = mlmd.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
        self.store = metadata_store.MetadataStore(config)
        self.data_type = self._artifact_type("DataVersion")
        self.report_type = self._execution_type("StageReport")
        self.run_type = self._execution_type("Run")
        self.chain_ends: list[int] = []

    def _artifact_type(self, name: str) -> int:
        return int(self.store.put_artifact_type(mlmd.ArtifactType(name=name)))

    def _execution_type(self, name: str) -> int:
        return int(self.store.put_execution_type(mlmd.ExecutionType(name=name)))

    def chains(self, chains: int, length: int) -> dict[str, Any]:
        """Builds the chains in bulk (artifacts, then executions, then events)."""
        for chain in range(chains):
            artifacts = [
                mlmd.Artifact(
                    type_id=self.data_type,
                    uri=f"s3://bench/{chain}/{i}",
                    name=f"data-{chain}-{i}",
                )
                for i in range(0, length, 2)
            ]
            artifact_ids = list(self.store.put_artifacts(artifacts))
            executions = [
                mlmd.Execution(type_id=self.report_type, name=f"report-{chain}-{i}")
                for i in range(len(artifact_ids) - 1)
            ]
            execution_ids = list(self.store.put_executions(executions))
            events = []
            for i, execution_id in enumerate(execution_ids):
                events.append(
                    mlmd.Event(
                        artifact_id=artifact_ids[i],
                        execution_id=execution_id,
                        type=mlmd.Event.INPUT,
                    )
                )
                events.append(
                    mlmd.Event(
                        artifact_id=artifact_ids[i + 1],
                        execution_id=execution_id,
                        type=mlmd.Event.OUTPUT,
                    )
                )
            self.store.put_events(events)
            self.chain_ends.append(artifact_ids[-1])
        return {"chains": len(self.chain_ends)}

    def runs(self, count: int, teams: int) -> dict[str, Any]:
        """Creates labelled runs, 1,000 a call."""
        for base in range(0, count, 1000):
            batch = []
            for i in range(base, min(base + 1000, count)):
                run = mlmd.Execution(type_id=self.run_type, name=f"run-{i}")
                run.custom_properties["team"].string_value = f"team-{i % teams}"
                run.custom_properties["env"].string_value = "prod" if i % 2 else "dev"
                batch.append(run)
            self.store.put_executions(batch)
        return {"runs": count}

    def lineage(self, chain: int, hops: int, count: int) -> dict[str, Any]:
        """Times get_lineage_subgraph upstream from the end of a chain."""
        options = mlmd.LineageSubgraphQueryOptions(
            starting_artifacts=mlmd.LineageSubgraphQueryOptions.StartingNodes(
                filter_query=f"id = {self.chain_ends[chain]}"
            ),
            max_num_hops=hops,
            direction=mlmd.LineageSubgraphQueryOptions.UPSTREAM,
        )
        graph = self.store.get_lineage_subgraph(options)
        samples = _timed(lambda: self.store.get_lineage_subgraph(options), count)
        nodes = len(graph.artifacts) + len(graph.executions)
        return {"ms": samples, "nodes": nodes, "edges": len(graph.events)}

    def list(self, team: str, limit: int, count: int) -> dict[str, Any]:
        """Times a label-filtered first page of runs."""
        options = metadata_store.ListOptions(
            limit=limit,
            order_by=metadata_store.OrderByField.ID,
            is_asc=True,
            filter_query=f"type = 'Run' AND custom_properties.team.string_value = '{team}'",
        )
        found = self.store.get_executions(list_options=options)
        samples = _timed(lambda: self.store.get_executions(list_options=options), count)
        return {"ms": samples, "returned": len(found)}


def _timed(call: Any, count: int) -> list[float]:
    call()
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> None:
    """Answers commands until stdin closes."""
    with tempfile.TemporaryDirectory() as tmp:
        driver = Driver(f"{tmp}/mlmd.sqlite")
        for line in sys.stdin:
            command = json.loads(line)
            op = command.pop("op")
            answer = getattr(driver, op)(**command)
            print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
