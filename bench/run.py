"""`make bench`: every benchmark of bench/, one after the other, figures on stdout.

- report_stage_throughput: ReportStage calls/s on the SQLite default vs a bare gRPC echo
  server (same client, same request bytes), beside the same server with ReportStage's
  work replaced (stack floors), BatchReportStages reports/s, and the server's peak RSS.
- lineage_and_list: GetLineage 100 hops both ways and label-filtered List first pages on a
  store of 1,000,000 artifacts and stage reports (no planner statistics), and the
  server's peak RSS.
- versus_mlmd: GetLineage and a label-filtered ListRuns beside ML Metadata 1.17 on the
  same graph and runs, both stores grown through their APIs, in interleaved rounds.
- sdk_metrics: the SDK's ``run.log_metric`` cost on the calling thread (1,000,000 calls),
  and sustained metric ingestion from one SDK client into the SQLite server beside
  inserting the same rows straight into SQLite.
- scale_out: ReportStage calls/s with one and with two `mlspec serve` processes on one
  PostgreSQL store (the two-process figure over the one-process one, same round).
- log_ingestion: inference-log records streamed in batches of 1,000 into the SQLite
  server (hash chain, signed checkpoints) beside inserting the same rows straight into
  SQLite, and VerifyLogChain over the 1,000,000-record chain.
- drift: ComputeDrift of 50 features over 1,000,000 recorded predictions (the store is
  built once, under build/bench/).
"""

from __future__ import annotations

import sys

from bench import (
    drift,
    lineage_and_list,
    log_ingestion,
    report_stage_throughput,
    scale_out,
    sdk_metrics,
    versus_mlmd,
)


def main() -> None:
    """Runs the benchmarks with their default settings."""
    print("== ReportStage throughput vs a bare gRPC echo server", flush=True)
    sys.argv = [sys.argv[0]]
    report_stage_throughput.main()
    print("\n== GetLineage and List on 1,000,000 resources (the store is built once)", flush=True)
    sys.argv = [sys.argv[0]]
    lineage_and_list.main()
    print(
        "\n== GetLineage and ListRuns beside ML Metadata (stores grown through their APIs)",
        flush=True,
    )
    sys.argv = [sys.argv[0]]
    versus_mlmd.main()
    print("\n== SDK metric logging: hot path and ingestion into the SQLite server", flush=True)
    sys.argv = [sys.argv[0]]
    sdk_metrics.main()
    print("\n== Scale-out: one and two server processes on one PostgreSQL store", flush=True)
    sys.argv = [sys.argv[0]]
    scale_out.main()
    print("\n== Inference-log ingestion over gRPC and chain verification", flush=True)
    sys.argv = [sys.argv[0]]
    log_ingestion.main()
    print("\n== Drift of 50 features over 1,000,000 predictions (the store is built once)")
    sys.argv = [sys.argv[0]]
    drift.main()


if __name__ == "__main__":
    main()
