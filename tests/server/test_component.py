"""The service's own /ok, /varz and /metrics (ComponentService), health and reflection."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from mlspec.monitoring.v1 import component_service_pb2 as pb
from mlspec.monitoring.v1 import component_service_pb2_grpc, signals_pb2
from mlspec.server.app import SERVICES

from .conftest import Stubs


def test_ok_varz_and_metrics(channel: grpc.Channel, stubs: Stubs) -> None:
    component = component_service_pb2_grpc.ComponentServiceStub(channel)
    ok = component.Ok(pb.OkRequest())
    assert ok.status == signals_pb2.SERVING_STATUS_SERVING
    assert set(ok.services) == {s.full_name for s in SERVICES}
    varz = component.Varz(pb.VarzRequest())
    assert (
        varz.info.name == "mlspec-metadata-service"
        and varz.variables["config.store_backend"].string_value == "sqlite"
        and varz.variables["counters.rpc_calls"].int_value >= 1
    )
    metrics = component.Metrics(pb.MetricsRequest(name_prefixes=["mlspec_rpc"]))
    assert "# TYPE mlspec_rpc_calls_total counter" in metrics.prometheus_text
    assert 'code="OK",method="/mlspec.monitoring.v1.ComponentService/Ok"' in metrics.prometheus_text
    names = {s.name for s in metrics.series}
    assert names == {"mlspec_rpc_calls", "mlspec_rpc_duration_seconds"}
    assert all(p.HasField("time") for s in metrics.series for p in s.sum.data_points)
    histogram = next(s for s in metrics.series if s.name == "mlspec_rpc_duration_seconds").histogram
    assert all(sum(p.bucket_counts) == p.count for p in histogram.data_points)


def test_health_and_reflection_list_every_service(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    assert (
        health.Check(health_pb2.HealthCheckRequest()).status
        == health_pb2.HealthCheckResponse.SERVING
    )
    for service in SERVICES:
        reply = health.Check(health_pb2.HealthCheckRequest(service=service.full_name))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    listed = {s.name for r in responses for s in r.list_services_response.service}
    assert {s.full_name for s in SERVICES} <= listed
