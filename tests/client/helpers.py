"""Shared helpers of the client tests."""

from __future__ import annotations

from mlspec.client import Client
from mlspec.tracking.v1 import metric_pb2
from mlspec.tracking.v1 import tracking_service_pb2 as tr


def all_points(client: Client, run_id: str, key: str) -> list[metric_pb2.Metric]:
    """Every stored point of one metric of a run, page after page."""
    points: list[metric_pb2.Metric] = []
    token = ""
    while True:
        response = client.tracking.GetMetricHistory(
            tr.GetMetricHistoryRequest(run_id=run_id, key=key, page_size=25_000, page_token=token)
        )
        points.extend(response.history.points)
        token = response.next_page_token
        if not token:
            return points
