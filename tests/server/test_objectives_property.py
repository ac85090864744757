"""Random valid objective expressions give the same result through the service as
locally: the service evaluates them (EvaluateObjectives with given objectives) on a
stored evaluation report whose values are those the local evaluation reads."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from hypothesis import given, settings

from mlspec.common.v1 import threshold_pb2
from mlspec.lifecycle.v1 import lifecycle_service_pb2 as lc
from mlspec.objectives import CEL, DIALECT, compile_expression, evaluate
from mlspec.server.app import build_server
from mlspec.server.config import ServerConfig
from mlspec.store.sql import SqlStore

from ..objectives.test_dialects import CONDITIONS, DECLARED, VALUES, Expr, to_cel_text
from .conftest import Stubs
from .messages import make
from .test_stage_rules import DSV, MV, World, ref


def _results() -> list[dict[str, Any]]:
    found = []
    for role, overall, slices in (
        ("", VALUES.metrics, VALUES.slices),
        ("baseline", VALUES.baseline, VALUES.baseline_slices),
    ):
        for slice_, metrics in [("", overall), *slices.items()]:
            features = dict(p.split("=") for p in slice_.split(",")) if slice_ else {}
            for name, value in metrics.items():
                found.append(
                    {
                        "metric_key": {"name": name, "model_role": role},
                        "slice_key": {"feature_values": features},
                        "value": {"double_value": value},
                    }
                )
    return found


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stubs, str]]:
    folder: pathlib.Path = tmp_path_factory.mktemp("objectives")
    url = f"sqlite:///{folder / 'store.db'}"
    store = SqlStore(url)
    store.upgrade()
    server = build_server(ServerConfig(port=0, store_url=url), store=store)
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stubs = Stubs(channel)
        world = World(stubs)
        mv_ref = ref(MV, world.mv[0].meta.id)
        stored = world.send(
            world.report(
                stage="LIFECYCLE_STAGE_MODEL_EVALUATION",
                model_training=None,
                model_version=mv_ref,
                model_evaluation={
                    "candidate_model": mv_ref,
                    "datasets": [
                        {
                            "dataset": ref(DSV, world.dsv[1].meta.id),
                            "digest": {"digests": {"sha256": "1" * 64}},
                        }
                    ],
                    "metric_results": _results(),
                    "objectives_outcome": "THRESHOLD_OUTCOME_PASSED",
                    "decision": "MODEL_GATE_DECISION_APPROVED",
                },
            )
        )
        yield stubs, stored.meta.id
    server.stop(0)


def _objectives(text: str, dialect: str) -> dict[str, Any]:
    def objective(key: str, metric: str, bounds: dict[str, float], condition: str) -> Any:
        return {
            "id": key,
            "name": key,
            "metric_name": metric,
            "threshold": {"value_threshold": bounds},
            "severity": "OBJECTIVE_SEVERITY_BLOCKING",
            "expression": {"text": condition, "dialect": DIALECT},
        }

    return {
        "objectives_version": "1",
        "model_outputs": [{"name": "score", "type": "VALUE_TYPE_DOUBLE"}],
        "document_digest": {"digests": {"sha256": "0" * 64}},
        "objectives": [
            objective("auc-overall", "auc", {"lower_bound": 0.8}, "auc >= 0.8"),
            objective("p99", "latency_ms", {"upper_bound": 10}, "latency_ms <= 10"),
            objective("recall", "recall", {"lower_bound": 0}, "recall >= 0"),
        ],
        "launch_criteria": {"expression": {"text": text, "dialect": dialect}},
    }


@settings(max_examples=40, deadline=None)
@given(CONDITIONS)
def test_the_service_evaluates_as_the_library_does(report: tuple[Stubs, str], expr: Expr) -> None:
    stubs, report_id = report
    local = evaluate(compile_expression(expr.text, DIALECT, DECLARED), VALUES).value
    for text, dialect in ((expr.text, DIALECT), (to_cel_text(expr.text), CEL)):
        answer = stubs.lifecycle.EvaluateObjectives(
            make(
                lc.EvaluateObjectivesRequest,
                {"stage_report_id": report_id, "objectives": _objectives(text, dialect)},
            )
        )
        outcome = answer.evaluations[0].launch_criteria.expression_outcome
        assert outcome == (
            threshold_pb2.THRESHOLD_OUTCOME_PASSED
            if local
            else threshold_pb2.THRESHOLD_OUTCOME_FAILED
        ), (text, local)
