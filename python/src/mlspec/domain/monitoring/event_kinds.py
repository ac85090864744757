"""The kinds of monitoring record in the store's ``events`` table, by number."""

from __future__ import annotations

from mlspec.monitoring.v1 import signals_pb2

# Records of what was served: requests, predictions, feedback; and the serving
# statistics kept beside predictions (``serving_stats``).
REQUEST, PREDICTION, FEEDBACK, SERVING_STATS = 1, 2, 3, 4
# Signals.
DRIFT, PERFORMANCE, LIVENESS = 11, 12, 13
SIGNAL_KIND: dict[int, int] = {
    signals_pb2.SIGNAL_TYPE_DRIFT: DRIFT,
    signals_pb2.SIGNAL_TYPE_PERFORMANCE: PERFORMANCE,
    signals_pb2.SIGNAL_TYPE_LIVENESS: LIVENESS,
}
