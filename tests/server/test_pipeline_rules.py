"""Contract rules of pipelines: graph validation, submission values, step runs, module versions."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import grpc
import pytest

from mlspec.common.v1 import reference_pb2, resource_service_pb2, run_state_pb2
from mlspec.data.v1 import data_service_pb2
from mlspec.pipelines.v1 import graph_pb2, module_pb2, pipeline_pb2, pipeline_run_pb2
from mlspec.pipelines.v1 import pipelines_service_pb2 as pb

from .conftest import Stubs
from .messages import make

S = run_state_pb2.RunState
R = graph_pb2.GraphValidationRule
SNAPSHOT = {
    "container_image": {"image": "registry.example/x", "image_digest": "sha256:" + "a" * 64},
    "digest": {"digests": {"sha256": "a" * 64}},
}


def fails(code: grpc.StatusCode, call: Callable[[], Any]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        call()
    assert err.value.code() == code, err.value.details()
    return err.value


def new_module(stubs: Stubs, name: str, kind: str = "MODULE_KIND_PRIMITIVE") -> str:
    return str(
        stubs.pipelines.CreateModule(
            pb.CreateModuleRequest(
                module=make(module_pb2.Module, {"meta": {"name": name}, "kind": kind})
            )
        ).module.meta.id
    )


def create_version(stubs: Stubs, fields: dict[str, Any]) -> module_pb2.ModuleVersion:
    created: module_pb2.ModuleVersion = stubs.pipelines.CreateModuleVersion(
        pb.CreateModuleVersionRequest(module_version=make(module_pb2.ModuleVersion, fields))
    ).module_version
    return created


def module(
    stubs: Stubs,
    name: str,
    inputs: dict[str, str],
    outputs: dict[str, str],
    params: list[dict[str, object]] | None = None,
) -> str:
    module_id = new_module(stubs, name)
    create_version(
        stubs,
        {
            "module_id": module_id,
            "snapshot": SNAPSHOT,
            "interface": {
                "inputs": [
                    {"name": n, "artifact_type": {"schema_title": t}} for n, t in inputs.items()
                ],
                "outputs": [
                    {"name": n, "artifact_type": {"schema_title": t}} for n, t in outputs.items()
                ],
                "parameters": params or [],
            },
            "executor": {"command": ["run", name]},
        },
    )
    return module_id


def step(vid: str, module_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": vid,
        "step": {"module": {"kind": "RESOURCE_KIND_MODULE", "id": module_id}, **extra},
    }


def data_edge(src: str, src_port: str, dst: str, dst_port: str) -> dict[str, Any]:
    return {
        "kind": "EDGE_KIND_DATA",
        "source": {"vertex_id": src, "port_name": src_port},
        "target": {"vertex_id": dst, "port_name": dst_port},
    }


@pytest.fixture
def mods(stubs: Stubs) -> dict[str, str]:
    return {
        "train": module(
            stubs,
            "train",
            {"data": "mlspec.Dataset"},
            {"model": "mlspec.Model"},
            [{"name": "lr", "type": "VALUE_TYPE_DOUBLE", "default_value": {"double_value": 0.1}}],
        ),
        "evaluate": module(stubs, "evaluate", {"model": "mlspec.Model"}, {}),
    }


def good_graph(mods: dict[str, str]) -> dict[str, Any]:
    return {
        "vertices": [
            {"id": "raw", "data": {"data_path_uri": "s3://bucket/raw/"}},
            step("train", mods["train"], parameters={"lr": {"graph_parameter": "lr"}}),
            step("evaluate", mods["evaluate"]),
        ],
        "edges": [
            data_edge("raw", "data", "train", "data"),
            data_edge("train", "model", "evaluate", "model"),
        ],
        "parameters": [{"name": "lr", "type": "VALUE_TYPE_DOUBLE"}],
        "outputs": [{"name": "model", "source": {"vertex_id": "train", "port_name": "model"}}],
    }


def validate(stubs: Stubs, g: dict[str, Any], **extra: Any) -> pb.ValidatePipelineGraphResponse:
    response: pb.ValidatePipelineGraphResponse = stubs.pipelines.ValidatePipelineGraph(
        make(pb.ValidatePipelineGraphRequest, {"graph": g, **extra})
    )
    return response


def rules(response: pb.ValidatePipelineGraphResponse | pipeline_pb2.PipelineDraft) -> set[str]:
    return {R.Name(v.rule) for v in response.violations}


def draft(stubs: Stubs, name: str, g: dict[str, Any], **extra: Any) -> pipeline_pb2.PipelineDraft:
    created: pipeline_pb2.PipelineDraft = stubs.pipelines.CreatePipelineDraft(
        pb.CreatePipelineDraftRequest(
            pipeline_draft=make(
                pipeline_pb2.PipelineDraft, {"meta": {"name": name}, "graph": g, **extra}
            )
        )
    ).pipeline_draft
    return created


def submit(stubs: Stubs, draft_id: str, **values: dict[str, Any]) -> pipeline_run_pb2.PipelineRun:
    run: pipeline_run_pb2.PipelineRun = stubs.pipelines.SubmitPipelineDraft(
        make(pb.SubmitPipelineDraftRequest, {"draft_id": draft_id, "parameter_values": values})
    ).pipeline_run
    return run


# -- item 10: graph validation -----------------------------------------------------------


def test_graph_rules_reported_all_at_once(stubs: Stubs, mods: dict[str, str]) -> None:
    assert validate(stubs, good_graph(mods), check_references=True).valid
    g = good_graph(mods)
    # Rule 6: a Dataset URI into a Model input, and a Model output into a Dataset input.
    g["vertices"].append(step("eval2", mods["evaluate"]))
    g["vertices"].append(step("train2", mods["train"]))
    g["edges"] += [
        data_edge("raw", "data", "eval2", "model"),
        data_edge("train", "model", "train2", "data"),
    ]
    # Rule 8: a literal of the wrong type; rule 7: a default of the wrong type.
    g["vertices"][1]["step"]["parameters"] = {"lr": {"value": {"string_value": "x"}}}
    g["parameters"].append(
        {"name": "n", "type": "VALUE_TYPE_INT", "default_value": {"string_value": "x"}}
    )
    # Rule 10: unknown vertex, unknown port, repeated name.
    g["outputs"] += [
        {"name": "model", "source": {"vertex_id": "train", "port_name": "model"}},
        {"name": "ghost", "source": {"vertex_id": "nope", "port_name": "model"}},
        {"name": "wrong", "source": {"vertex_id": "train", "port_name": "nope"}},
    ]
    response = validate(stubs, g, check_references=True)
    assert not response.valid
    mismatches = [
        v for v in response.violations if v.rule == R.GRAPH_VALIDATION_RULE_PORT_TYPE_MISMATCH
    ]
    assert len(mismatches) == 2
    values = {
        v.parameter_name
        for v in response.violations
        if v.rule == R.GRAPH_VALIDATION_RULE_VALUE_INVALID
    }
    assert values == {"lr", "n"}
    outputs = [v for v in response.violations if v.rule == R.GRAPH_VALIDATION_RULE_OUTPUT_INVALID]
    assert len(outputs) == 3
    # A stable order: by rule.
    assert [v.rule for v in response.violations] == sorted(v.rule for v in response.violations)


def test_references_archived_are_violations_deprecated_warn(
    stubs: Stubs, mods: dict[str, str]
) -> None:
    dataset = stubs.data.CreateDataset(
        make(data_service_pb2.CreateDatasetRequest, {"dataset": {"meta": {"name": "raw"}}})
    ).dataset
    g = good_graph(mods)
    g["vertices"][0] = {
        "id": "raw",
        "data": {"dataset": {"kind": "RESOURCE_KIND_DATASET", "id": dataset.meta.id}},
    }
    stubs.resources.ArchiveResource(
        resource_service_pb2.ArchiveResourceRequest(
            resource=reference_pb2.ResourceRef(
                kind=reference_pb2.RESOURCE_KIND_DATASET, id=dataset.meta.id
            )
        )
    )
    stubs.resources.DeprecateResource(
        resource_service_pb2.DeprecateResourceRequest(
            resource=reference_pb2.ResourceRef(
                kind=reference_pb2.RESOURCE_KIND_MODULE, id=mods["evaluate"]
            )
        )
    )
    response = validate(stubs, g, check_references=True)
    assert not response.valid
    archived = [
        v for v in response.violations if v.rule == R.GRAPH_VALIDATION_RULE_RESOURCE_ARCHIVED
    ]
    assert [v.vertex_id for v in archived] == ["raw"]
    assert any(
        w.code == "RESOURCE_DEPRECATED" and w.resource.id == mods["evaluate"]
        for w in response.warnings
    )


def test_validate_request_and_size_limits(stubs: Stubs, mods: dict[str, str]) -> None:
    fails(
        grpc.StatusCode.INVALID_ARGUMENT,
        lambda: stubs.pipelines.ValidatePipelineGraph(pb.ValidatePipelineGraphRequest()),
    )
    fails(grpc.StatusCode.INVALID_ARGUMENT, lambda: validate(stubs, {"vertices": []}))
    big = {
        "vertices": [{"id": f"v{i}", "data": {"data_path_uri": "s3://b/x"}} for i in range(1001)]
    }
    fails(grpc.StatusCode.INVALID_ARGUMENT, lambda: validate(stubs, big))
    fails(grpc.StatusCode.INVALID_ARGUMENT, lambda: draft(stubs, "big", big))
    ok = {"vertices": big["vertices"][:1000]}
    assert validate(stubs, ok).valid


def test_draft_violations_recorded_on_create_and_update(stubs: Stubs, mods: dict[str, str]) -> None:
    g = good_graph(mods)
    g["edges"] = g["edges"][:1]  # evaluate.model left unconnected
    created = draft(stubs, "wip", g)
    assert rules(created) == {"GRAPH_VALIDATION_RULE_INPUT_UNCONNECTED"}
    fetched = stubs.pipelines.GetPipelineDraft(
        pb.GetPipelineDraftRequest(id=created.meta.id)
    ).pipeline_draft
    assert rules(fetched) == rules(created)
    fixed = stubs.pipelines.UpdatePipelineDraft(
        make(
            pb.UpdatePipelineDraftRequest,
            {
                "pipeline_draft": {"meta": {"id": created.meta.id}, "graph": good_graph(mods)},
                "update_mask": "graph",
            },
        )
    ).pipeline_draft
    assert not fixed.violations
    g["vertices"].append({"id": "Bad Id"})
    broken = stubs.pipelines.UpdatePipelineDraft(
        make(
            pb.UpdatePipelineDraftRequest,
            {
                "pipeline_draft": {"meta": {"id": created.meta.id}, "graph": g},
                "update_mask": "graph",
            },
        )
    ).pipeline_draft
    assert {
        "GRAPH_VALIDATION_RULE_VERTEX_ID_INVALID",
        "GRAPH_VALIDATION_RULE_VERTEX_INCOMPLETE",
    } <= rules(broken)
    # Submitting an invalid graph: INVALID_ARGUMENT; publishing it: FAILED_PRECONDITION.
    fails(
        grpc.StatusCode.INVALID_ARGUMENT,
        lambda: submit(stubs, created.meta.id, lr={"double_value": 0.2}),
    )
    fails(
        grpc.StatusCode.FAILED_PRECONDITION,
        lambda: stubs.pipelines.PublishPipelineDraft(
            pb.PublishPipelineDraftRequest(draft_id=created.meta.id)
        ),
    )


# -- item 11: parameter values at submission ---------------------------------------------


def test_submission_checks_parameter_values(stubs: Stubs, mods: dict[str, str]) -> None:
    d = draft(stubs, "params", good_graph(mods))
    assert not d.violations
    err = fails(grpc.StatusCode.INVALID_ARGUMENT, lambda: submit(stubs, d.meta.id))
    assert "lr" in err.details()
    fails(
        grpc.StatusCode.INVALID_ARGUMENT, lambda: submit(stubs, d.meta.id, lr={"string_value": "x"})
    )
    fails(
        grpc.StatusCode.INVALID_ARGUMENT,
        lambda: submit(stubs, d.meta.id, lr={"double_value": 0.1}, nope={"int_value": 1}),
    )
    run = submit(stubs, d.meta.id, lr={"int_value": 1})
    assert run.parameter_values["lr"].int_value == 1
    # The draft's values fill what the submission leaves out.
    with_values = draft(
        stubs, "valued", good_graph(mods), parameter_values={"lr": {"double_value": 0.3}}
    )
    assert submit(stubs, with_values.meta.id).parameter_values["lr"].double_value == 0.3


# -- items 4 and 5: step runs ------------------------------------------------------------


def test_step_run_rules_and_cancellation(stubs: Stubs, mods: dict[str, str]) -> None:
    d = draft(stubs, "runs", good_graph(mods))
    run = submit(stubs, d.meta.id, lr={"double_value": 0.2})

    def create(**fields: Any) -> pipeline_run_pb2.StepRun:
        created: pipeline_run_pb2.StepRun = stubs.pipelines.CreateStepRun(
            make(pb.CreateStepRunRequest, {"step_run": {"pipeline_run_id": run.meta.id, **fields}})
        ).step_run
        return created

    first = create(vertex_id="train")
    assert first.attempt == 1 and first.meta.name == "train-1"
    fails(grpc.StatusCode.ALREADY_EXISTS, lambda: create(vertex_id="train"))
    fails(
        grpc.StatusCode.ALREADY_EXISTS,
        lambda: create(vertex_id="train", attempt=1, meta={"name": "other"}),
    )
    fails(grpc.StatusCode.INVALID_ARGUMENT, lambda: create(vertex_id="train", attempt=-5))
    fails(
        grpc.StatusCode.INVALID_ARGUMENT,
        lambda: create(vertex_id="evaluate", input_artifacts={"bogus": {"artifact_ids": []}}),
    )
    second = create(vertex_id="train", attempt=2, previous_attempt_id=first.meta.id)
    iterated = create(vertex_id="evaluate", iteration_index=0)
    assert iterated.meta.name == "evaluate-0-1"
    create(vertex_id="evaluate", iteration_index=1)

    stubs.pipelines.UpdateStepRunState(
        pb.UpdateStepRunStateRequest(step_run_id=first.meta.id, state=S.RUN_STATE_RUNNING)
    )
    fails(
        grpc.StatusCode.INVALID_ARGUMENT,
        lambda: stubs.pipelines.UpdateStepRunState(
            make(
                pb.UpdateStepRunStateRequest,
                {
                    "step_run_id": first.meta.id,
                    "state": "RUN_STATE_SUCCEEDED",
                    "output_artifacts": {"bogus": {"artifact_ids": ["x"]}},
                },
            )
        ),
    )
    stubs.pipelines.UpdateStepRunState(
        pb.UpdateStepRunStateRequest(step_run_id=first.meta.id, state=S.RUN_STATE_FAILED)
    )
    stubs.pipelines.UpdateStepRunState(
        pb.UpdateStepRunStateRequest(step_run_id=second.meta.id, state=S.RUN_STATE_RUNNING)
    )

    stubs.pipelines.UpdatePipelineRunState(
        pb.UpdatePipelineRunStateRequest(pipeline_run_id=run.meta.id, state=S.RUN_STATE_CANCELLED)
    )
    states = {
        s.meta.id: s.state
        for s in stubs.pipelines.ListStepRuns(
            pb.ListStepRunsRequest(pipeline_run_id=run.meta.id)
        ).step_runs
    }
    assert states[first.meta.id] == S.RUN_STATE_FAILED
    assert states[second.meta.id] == S.RUN_STATE_CANCELLED
    assert states[iterated.meta.id] == S.RUN_STATE_CANCELLED
    assert sum(1 for s in states.values() if s == S.RUN_STATE_CANCELLED) == 3


# -- item 12: module versions ------------------------------------------------------------


def test_module_version_rules(stubs: Stubs, mods: dict[str, str]) -> None:
    primitive = new_module(stubs, "prim")
    base = {
        "module_id": primitive,
        "interface": {
            "inputs": [{"name": "data", "artifact_type": {"schema_title": "mlspec.Dataset"}}]
        },
    }
    bad_cases = [
        base,  # no snapshot
        {**base, "snapshot": {**SNAPSHOT, "digest": {}}},  # snapshot without digest
        {
            **base,
            "snapshot": SNAPSHOT,
            "graph": {"vertices": [{"id": "a", "data": {"data_path_uri": "s3://b/"}}]},
        },
        {
            **base,
            "snapshot": SNAPSHOT,
            "interface": {
                "inputs": [
                    {"name": "data", "artifact_type": {"schema_title": "mlspec.Dataset"}},
                    {"name": "data", "artifact_type": {"schema_title": "mlspec.Dataset"}},
                ]
            },
        },
        {
            **base,
            "snapshot": SNAPSHOT,
            "interface": {
                "outputs": [{"name": "x"}],
                "parameters": [{"name": "x", "type": "VALUE_TYPE_INT"}],
            },
        },
        {
            **base,
            "snapshot": SNAPSHOT,
            "interface": {"parameters": [{"name": "9lives", "type": "VALUE_TYPE_INT"}]},
        },
    ]
    for fields in bad_cases:
        fails(grpc.StatusCode.INVALID_ARGUMENT, functools.partial(create_version, stubs, fields))
    # A primitive module's version runs an executor (the Required implementation oneof).
    fails(
        grpc.StatusCode.INVALID_ARGUMENT,
        lambda: create_version(stubs, {**base, "snapshot": SNAPSHOT}),
    )
    good = {**base, "snapshot": SNAPSHOT, "executor": {"command": ["python", "-m", "prim"]}}
    first = create_version(stubs, good)
    assert first.version == "1" and first.sequence == 1 and first.meta.name == "prim-1"
    labelled = create_version(stubs, {**good, "version": "2.0.0"})
    assert labelled.meta.name == "prim-2_0_0"
    fails(
        grpc.StatusCode.ALREADY_EXISTS,
        lambda: create_version(stubs, {**good, "version": "2.0.0"}),
    )

    complex_id = new_module(stubs, "composite", "MODULE_KIND_COMPLEX")
    interface = {
        "inputs": [{"name": "rows", "artifact_type": {"schema_title": "mlspec.Dataset"}}],
        "outputs": [{"name": "model", "artifact_type": {"schema_title": "mlspec.Model"}}],
    }
    subgraph = {
        "vertices": [{"id": "in", "data": {"graph_input": "rows"}}, step("train", mods["train"])],
        "edges": [data_edge("in", "data", "train", "data")],
        "outputs": [{"name": "model", "source": {"vertex_id": "train", "port_name": "model"}}],
    }
    fails(
        grpc.StatusCode.INVALID_ARGUMENT,
        lambda: create_version(
            stubs, {"module_id": complex_id, "interface": interface, "executor": {}}
        ),
    )
    broken = {
        **subgraph,
        "outputs": [],
        "vertices": [{"id": "in", "data": {"graph_input": "nope"}}, subgraph["vertices"][1]],
    }
    err = fails(
        grpc.StatusCode.INVALID_ARGUMENT,
        lambda: create_version(
            stubs, {"module_id": complex_id, "interface": interface, "graph": broken}
        ),
    )
    assert "graph_input" in err.details() and "model" in err.details()
    made = create_version(
        stubs, {"module_id": complex_id, "interface": interface, "graph": subgraph}
    )
    assert made.version == "1"
    recursive = {
        **subgraph,
        "vertices": [*subgraph["vertices"], step("again", complex_id)],
        "edges": [*subgraph["edges"], data_edge("in", "data", "again", "rows")],
    }
    err = fails(
        grpc.StatusCode.INVALID_ARGUMENT,
        lambda: create_version(
            stubs, {"module_id": complex_id, "interface": interface, "graph": recursive}
        ),
    )
    assert "again" in err.details()
