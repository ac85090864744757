"""Compiled checks are built once per type and never handed to a thread half-bound.

The server compiles a type's check on the first request of that type, from whichever
worker thread gets it first. A check calls the checks of the types it holds; before
``CompiledChecks`` another thread could call a check whose callees were not bound yet
(``NameError: name 'C_mlspec_lifecycle_v1_StageReport' is not defined``, seen as
INTERNAL under the ReportStage benchmark's concurrent first calls).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from mlspec.domain.common import request_checks, well_formed
from mlspec.domain.common.compiled import CompiledChecks
from mlspec.lifecycle.v1 import lifecycle_service_pb2
from mlspec.logging.v1 import logging_service_pb2


def _requests() -> list[Any]:
    report = lifecycle_service_pb2.ReportStageRequest()
    report.stage_report.model_training.hyperparameters["depth"].object_value.fields[
        "a"
    ].array_value.values.add(int_value=3)
    logs = logging_service_pb2.WriteInferenceLogsRequest(log_stream_id="s")
    logs.records.add().inference.input_features["f"].double_value = 1.0
    return [report, logs]


def _first_calls(module: Any) -> list[BaseException]:
    """Eight threads make the first calls of two request types at once; their failures."""
    start = threading.Barrier(8)
    failures: list[BaseException] = []

    def first_call(message: Any) -> None:
        start.wait()
        try:
            if module is request_checks:
                assert request_checks.passes(message)
            else:
                assert well_formed.violations(message) == []
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=first_call, args=(_requests()[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


@pytest.mark.parametrize("module", [request_checks, well_formed])
def test_first_calls_from_many_threads_all_get_complete_checks(
    module: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(10):
        monkeypatch.setattr(module, "_compiled", CompiledChecks(module._build))
        assert _first_calls(module) == []


def test_a_failed_build_leaves_nothing_half_built() -> None:
    calls: list[str] = []

    def build(desc: Any) -> Any:
        calls.append(desc.full_name)
        raise RuntimeError("cannot compile")

    checks = CompiledChecks(build)
    desc = lifecycle_service_pb2.ReportStageRequest.DESCRIPTOR
    for _ in range(2):
        with pytest.raises(RuntimeError):
            checks(desc)
    assert calls == [desc.full_name] * 2  # not cached as if it had been built
