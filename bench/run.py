"""`make bench`: every benchmark of bench/, one after the other, figures on stdout.

- report_stage_throughput: ReportStage calls/s on the SQLite default vs a bare gRPC echo
  server (same client, same request bytes), beside the same server with ReportStage's
  work replaced (stack floors), BatchReportStages reports/s, and the server's peak RSS.
- lineage_and_list: GetLineage 100 hops both ways and label-filtered List first pages on a
  store of 1,000,000 artifacts and stage reports, and the server's peak RSS.
- sdk_metrics: the SDK's ``run.log_metric`` cost on the calling thread (1,000,000 calls),
  and sustained metric ingestion from one SDK client into the SQLite server beside
  inserting the same rows straight into SQLite.
- scale_out: ReportStage calls/s with one and with two `mlspec serve` processes on one
  PostgreSQL store (the two-process figure over the one-process one, same round).
"""

from __future__ import annotations

import sys

from bench import lineage_and_list, report_stage_throughput, scale_out, sdk_metrics


def main() -> None:
    """Runs the benchmarks with their default settings."""
    print("== ReportStage throughput vs a bare gRPC echo server", flush=True)
    sys.argv = [sys.argv[0]]
    report_stage_throughput.main()
    print("\n== GetLineage and List on 1,000,000 resources (the store is built once)", flush=True)
    lineage_and_list.main()
    print("\n== SDK metric logging: hot path and ingestion into the SQLite server", flush=True)
    sys.argv = [sys.argv[0]]
    sdk_metrics.main()
    print("\n== Scale-out: one and two server processes on one PostgreSQL store", flush=True)
    sys.argv = [sys.argv[0]]
    scale_out.main()


if __name__ == "__main__":
    main()
