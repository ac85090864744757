"""Modules, drafts, graph validation, publish, submit, step runs, clone (SPEC.md section 4)."""

from __future__ import annotations

import grpc
import pytest
from grpc_status import rpc_status

from mlspec.common.v1 import reference_pb2, resource_service_pb2, run_state_pb2
from mlspec.data.v1 import data_service_pb2
from mlspec.pipelines.v1 import graph_pb2, module_pb2, pipeline_pb2, pipeline_run_pb2
from mlspec.pipelines.v1 import pipelines_service_pb2 as pb
from mlspec.tracking.v1 import tracking_service_pb2

from .conftest import Stubs
from .messages import make

S = run_state_pb2.RunState


def module(
    stubs: Stubs,
    name: str,
    inputs: list[dict[str, object]],
    outputs: list[str],
    params: list[dict[str, object]] | None = None,
) -> str:
    created = stubs.pipelines.CreateModule(
        pb.CreateModuleRequest(
            module=make(
                module_pb2.Module, {"meta": {"name": name}, "kind": "MODULE_KIND_PRIMITIVE"}
            )
        )
    ).module
    stubs.pipelines.CreateModuleVersion(
        pb.CreateModuleVersionRequest(
            module_version=make(
                module_pb2.ModuleVersion,
                {
                    "module_id": created.meta.id,
                    "version": "1.0.0",
                    "snapshot": {
                        "container_image": {
                            "image": f"registry.example/{name}",
                            "image_digest": "sha256:" + "a" * 64,
                        },
                        "digest": {"digests": {"sha256": "a" * 64}},
                    },
                    "interface": {
                        "inputs": inputs,
                        "outputs": [
                            {"name": o, "artifact_type": {"schema_title": "system.Dataset"}}
                            for o in outputs
                        ],
                        "parameters": params or [],
                    },
                    "executor": {"command": ["python", "-m", name]},
                },
            )
        )
    )
    return str(created.meta.id)


def graph(ingest: str, train: str, extra_edge: bool = False) -> dict[str, object]:
    edges = [
        {
            "kind": "EDGE_KIND_DATA",
            "source": {"vertex_id": "ingest", "port_name": "rows"},
            "target": {"vertex_id": "train", "port_name": "examples"},
        },
    ]
    if extra_edge:
        edges.append(
            {
                "kind": "EDGE_KIND_DATA",
                "source": {"vertex_id": "train", "port_name": "model"},
                "target": {"vertex_id": "ingest", "port_name": "seed"},
            }
        )
    return {
        "vertices": [
            {"id": "ingest", "step": {"module": {"kind": "RESOURCE_KIND_MODULE", "id": ingest}}},
            {
                "id": "train",
                "step": {
                    "module": {"kind": "RESOURCE_KIND_MODULE", "id": train},
                    "parameters": {"lr": {"graph_parameter": "learning_rate"}},
                },
            },
        ],
        "edges": edges,
        "parameters": [
            {
                "name": "learning_rate",
                "type": "VALUE_TYPE_DOUBLE",
                "default_value": {"double_value": 0.1},
            }
        ],
    }


@pytest.fixture
def modules(stubs: Stubs) -> tuple[str, str]:
    ingest = module(
        stubs,
        "ingest",
        [{"name": "seed", "artifact_type": {"schema_title": "system.Model"}, "optional": True}],
        ["rows"],
    )
    train = module(
        stubs,
        "train",
        [{"name": "examples", "artifact_type": {"schema_title": "system.Dataset"}}],
        ["model"],
        [{"name": "lr", "type": "VALUE_TYPE_DOUBLE"}],
    )
    return ingest, train


def test_validation_reports_every_violation_at_once(stubs: Stubs, modules: tuple[str, str]) -> None:
    bad = make(graph_pb2.PipelineGraph, graph(*modules, extra_edge=True))
    bad.parameters.add(name="learning_rate", type="VALUE_TYPE_DOUBLE")  # duplicate name
    bad.vertices[1].step.parameters["nope"].graph_parameter = "missing"
    bad.vertices.add(id="empty")  # a vertex of no kind: a violation, not a refused call
    bad.edges.add(
        kind=graph_pb2.EDGE_KIND_DATA,
        source={"vertex_id": "ingest", "port_name": "rows"},
        target={"vertex_id": "train", "port_name": "examples"},
    )
    response = stubs.pipelines.ValidatePipelineGraph(
        pb.ValidatePipelineGraphRequest(graph=bad, check_references=True)
    )
    rules = {graph_pb2.GraphValidationRule.Name(v.rule) for v in response.violations}
    assert not response.valid
    assert {
        "GRAPH_VALIDATION_RULE_CYCLE",
        "GRAPH_VALIDATION_RULE_GRAPH_PARAMETER_INVALID",
        "GRAPH_VALIDATION_RULE_PARAMETER_UNKNOWN",
        "GRAPH_VALIDATION_RULE_GRAPH_PARAMETER_UNKNOWN",
        "GRAPH_VALIDATION_RULE_INPUT_MULTIPLY_CONNECTED",
        "GRAPH_VALIDATION_RULE_VERTEX_INCOMPLETE",
    } <= rules


def test_unconnected_required_input_blocks_submission(
    stubs: Stubs, modules: tuple[str, str]
) -> None:
    g = make(graph_pb2.PipelineGraph, graph(*modules))
    del g.edges[:]
    draft = stubs.pipelines.CreatePipelineDraft(
        pb.CreatePipelineDraftRequest(
            pipeline_draft=pipeline_pb2.PipelineDraft(meta={"name": "broken"}, graph=g)
        )
    ).pipeline_draft
    with pytest.raises(grpc.RpcError) as err:
        stubs.pipelines.SubmitPipelineDraft(pb.SubmitPipelineDraftRequest(draft_id=draft.meta.id))
    # SubmitPipelineDraft: INVALID_ARGUMENT when the graph has violations.
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(err.value)
    assert status is not None and "train.examples" in status.message


def test_publish_submit_run_and_clone(stubs: Stubs, modules: tuple[str, str]) -> None:
    draft = stubs.pipelines.CreatePipelineDraft(
        pb.CreatePipelineDraftRequest(
            pipeline_draft=make(
                pipeline_pb2.PipelineDraft, {"meta": {"name": "churn"}, "graph": graph(*modules)}
            )
        )
    ).pipeline_draft
    pipeline = stubs.pipelines.PublishPipelineDraft(
        pb.PublishPipelineDraftRequest(draft_id=draft.meta.id)
    ).pipeline
    assert (
        pipeline.published_from_draft_id == draft.meta.id
        and pipeline.graph_digest.digests["sha256"]
    )

    # A Module reference resolves to its latest active version at submission.
    newer = stubs.pipelines.CreateModuleVersion(
        pb.CreateModuleVersionRequest(
            module_version=make(
                module_pb2.ModuleVersion,
                {
                    "module_id": modules[1],
                    "version": "1.1.0",
                    "snapshot": {
                        "git": {
                            "repository_uri": "https://git.example/train",
                            "commit_sha": "b" * 40,
                        },
                        "digest": {"digests": {"sha1": "b" * 40}},
                    },
                    "interface": {
                        "inputs": [
                            {
                                "name": "examples",
                                "artifact_type": {"schema_title": "system.Dataset"},
                            }
                        ],
                        "outputs": [
                            {"name": "model", "artifact_type": {"schema_title": "system.Model"}}
                        ],
                        "parameters": [{"name": "lr", "type": "VALUE_TYPE_DOUBLE"}],
                    },
                    "executor": {"command": ["python", "-m", "train"]},
                },
            )
        )
    ).module_version
    run = stubs.pipelines.SubmitPipeline(
        pb.SubmitPipelineRequest(
            pipeline=reference_pb2.ResourceRef(
                kind=reference_pb2.RESOURCE_KIND_PIPELINE, id=pipeline.meta.id
            ),
            parameter_values={"learning_rate": {"double_value": 0.05}},
        )
    ).pipeline_run
    assert run.state == S.RUN_STATE_PENDING and run.run_id and run.pipeline_id == pipeline.meta.id
    assert run.meta.name.startswith(f"{pipeline.meta.name}-")  # <pipeline>-<yyyymmdd-hhmmss>
    resolved = {r.vertex_id: r.resolved.id for r in run.resolved_references}
    assert resolved["train"] == newer.meta.id
    # The resolved graph is pinned: every step names the module version it runs.
    steps = {v.id: v.step.module for v in run.resolved_graph.vertices if v.HasField("step")}
    assert steps["train"].kind == reference_pb2.RESOURCE_KIND_MODULE_VERSION
    assert steps["train"].id == newer.meta.id
    assert run.parameter_values["learning_rate"].double_value == 0.05

    step = stubs.pipelines.CreateStepRun(
        pb.CreateStepRunRequest(
            step_run=pipeline_run_pb2.StepRun(pipeline_run_id=run.meta.id, vertex_id="train")
        )
    ).step_run
    assert step.module_version_id == newer.meta.id and step.run_id
    step = stubs.pipelines.UpdateStepRunState(
        pb.UpdateStepRunStateRequest(step_run_id=step.meta.id, state=S.RUN_STATE_RUNNING)
    ).step_run

    def artifact(run_id: str, name: str) -> str:
        made = stubs.data.CreateArtifact(
            make(
                data_service_pb2.CreateArtifactRequest,
                {
                    "artifact": {
                        "meta": {"name": name},
                        "run_id": run_id,
                        "type": "ARTIFACT_TYPE_MODEL",
                        "uri": f"s3://m/{name}",
                    }
                },
            )
        ).artifact
        return str(made.meta.id)

    # A step run's outputs are artifacts its own tracking run produced.
    foreign = artifact(run.run_id, "not-mine")
    with pytest.raises(grpc.RpcError) as err:
        stubs.pipelines.UpdateStepRunState(
            make(
                pb.UpdateStepRunStateRequest,
                {
                    "step_run_id": step.meta.id,
                    "state": "RUN_STATE_SUCCEEDED",
                    "output_artifacts": {"model": {"artifact_ids": [foreign]}},
                },
            )
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    mine = artifact(step.run_id, "model")
    step = stubs.pipelines.UpdateStepRunState(
        make(
            pb.UpdateStepRunStateRequest,
            {
                "step_run_id": step.meta.id,
                "state": "RUN_STATE_SUCCEEDED",
                "output_artifacts": {"model": {"artifact_ids": [mine]}},
            },
        )
    ).step_run
    with pytest.raises(grpc.RpcError) as err:
        stubs.pipelines.UpdateStepRunState(
            pb.UpdateStepRunStateRequest(step_run_id=step.meta.id, state=S.RUN_STATE_RUNNING)
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    tracking = stubs.tracking.GetRun(tracking_service_pb2.GetRunRequest(id=step.run_id)).run
    assert tracking.state == S.RUN_STATE_SUCCEEDED and tracking.step_run_id == step.meta.id
    assert tracking.parent_run_id == run.run_id  # a child of the pipeline run's run
    # A step whose outputs come from the cache is CACHED at once, and counted so.
    cached = stubs.pipelines.CreateStepRun(
        make(
            pb.CreateStepRunRequest,
            {
                "step_run": {
                    "pipeline_run_id": run.meta.id,
                    "vertex_id": "train",
                    "attempt": 2,
                    "cache": {"cache_key": {"digests": {"sha256": "c" * 64}}, "hit": True},
                }
            },
        )
    ).step_run
    assert cached.state == S.RUN_STATE_CACHED
    counts = stubs.pipelines.GetPipelineRun(pb.GetPipelineRunRequest(id=run.meta.id)).pipeline_run
    assert (counts.step_counts.total, counts.step_counts.succeeded, counts.step_counts.cached) == (
        2,
        1,
        1,
    )
    assert counts.step_counts.pending == counts.step_counts.running == 0
    # The latest attempt of each vertex only; cache hits by filter.
    latest = stubs.pipelines.ListStepRuns(
        pb.ListStepRunsRequest(pipeline_run_id=run.meta.id, latest_attempt_only=True)
    ).step_runs
    assert [s.meta.id for s in latest] == [cached.meta.id]
    hits = stubs.pipelines.ListStepRuns(
        pb.ListStepRunsRequest(pipeline_run_id=run.meta.id, filter="cache.hit = true")
    ).step_runs
    assert [s.meta.id for s in hits] == [cached.meta.id]
    # The latest active version of each series: a second publication supersedes the first.
    second = stubs.pipelines.PublishPipelineDraft(
        pb.PublishPipelineDraftRequest(draft_id=draft.meta.id)
    ).pipeline
    series = stubs.pipelines.ListPipelines(pb.ListPipelinesRequest(latest_only=True)).pipelines
    assert [p.meta.id for p in series] == [second.meta.id]
    assert len(stubs.pipelines.ListPipelines(pb.ListPipelinesRequest()).pipelines) == 2

    clone = stubs.pipelines.ClonePipelineRun(
        pb.ClonePipelineRunRequest(pipeline_run_id=run.meta.id, pin_resolved_versions=True)
    ).pipeline_draft
    assert clone.cloned_from.id == run.meta.id
    assert clone.graph.vertices[1].step.module.id == newer.meta.id
    again = stubs.pipelines.ClonePipeline(
        pb.ClonePipelineRequest(
            pipeline=reference_pb2.ResourceRef(
                kind=reference_pb2.RESOURCE_KIND_PIPELINE, id=pipeline.meta.id
            )
        )
    ).pipeline_draft
    assert again.cloned_from.id == pipeline.meta.id
    # By name alone, GetPipeline answers the latest active version of the series.
    newest = stubs.pipelines.GetPipeline(pb.GetPipelineRequest(name=pipeline.meta.name)).pipeline
    assert newest.meta.id == second.meta.id

    # An archived module version can no longer be used by new work.
    stubs.resources.ArchiveResource(
        resource_service_pb2.ArchiveResourceRequest(
            resource=reference_pb2.ResourceRef(
                kind=reference_pb2.RESOURCE_KIND_MODULE_VERSION, id=newer.meta.id
            )
        )
    )
    rerun = stubs.pipelines.SubmitPipeline(
        pb.SubmitPipelineRequest(
            pipeline=reference_pb2.ResourceRef(
                kind=reference_pb2.RESOURCE_KIND_PIPELINE, id=pipeline.meta.id
            )
        )
    ).pipeline_run
    assert {r.vertex_id: r.resolved.id for r in rerun.resolved_references}["train"] != newer.meta.id
