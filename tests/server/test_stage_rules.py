"""StageReport rules, the stage 9 hold-back rules and the lineage graph's presentation.

Each test goes through a real server; the contract sentences they check are in
stage_report.proto, holdback_test.proto, lifecycle_service.proto and lineage.proto.
"""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from grpc_status import rpc_status

from mlspec.common.v1 import reference_pb2
from mlspec.data.v1 import artifact_pb2, data_service_pb2, dataset_pb2, datastore_pb2
from mlspec.lifecycle.v1 import lifecycle_service_pb2 as lc
from mlspec.lifecycle.v1 import lineage_pb2
from mlspec.models.v1 import model_pb2, models_service_pb2
from mlspec.pipelines.v1 import pipeline_pb2, pipeline_run_pb2
from mlspec.pipelines.v1 import pipelines_service_pb2 as ppb
from mlspec.tracking.v1 import experiment_pb2, run_pb2, tracking_service_pb2

from .conftest import Stubs
from .messages import make
from .test_pipelines import graph, module

MV = "RESOURCE_KIND_MODEL_VERSION"
DSV = "RESOURCE_KIND_DATASET_VERSION"
SHA_A = {"digests": {"sha256": "a" * 64}}
SHA_B = {"digests": {"sha256": "b" * 64}}


class World:
    """A run, a dataset version, a model with two versions and an artifact."""

    def __init__(self, stubs: Stubs) -> None:
        self.stubs = stubs
        stubs.data.CreateDatastore(
            data_service_pb2.CreateDatastoreRequest(
                datastore=datastore_pb2.Datastore(
                    meta={"name": "lake"}, type=datastore_pb2.DATASTORE_TYPE_S3
                )
            )
        )
        self.dataset = stubs.data.CreateDataset(
            data_service_pb2.CreateDatasetRequest(dataset=dataset_pb2.Dataset(meta={"name": "d"}))
        ).dataset
        self.dsv = [self.dataset_version(f"part-{i}/", i) for i in range(3)]
        experiment = stubs.tracking.CreateExperiment(
            tracking_service_pb2.CreateExperimentRequest(
                experiment=experiment_pb2.Experiment(meta={"name": "exp"})
            )
        ).experiment
        self.run = stubs.tracking.CreateRun(
            tracking_service_pb2.CreateRunRequest(run=run_pb2.Run(experiment_id=experiment.meta.id))
        ).run
        self.model = stubs.models.CreateModel(
            models_service_pb2.CreateModelRequest(model=model_pb2.Model(meta={"name": "churn"}))
        ).model
        self.mv = [self.model_version(major) for major in (1, 2)]
        self.artifact = stubs.data.CreateArtifact(
            make(
                data_service_pb2.CreateArtifactRequest,
                {
                    "artifact": {
                        "meta": {"name": "features"},
                        "run_id": self.run.meta.id,
                        "type": "ARTIFACT_TYPE_DATASET",
                        "uri": "s3://lake/features/",
                        "digest": SHA_A,
                        "state": "ARTIFACT_STATE_LIVE",
                    }
                },
            )
        ).artifact
        assert isinstance(self.artifact, artifact_pb2.Artifact)

    def dataset_version(self, path: str, i: int) -> Any:
        return self.stubs.data.CreateDatasetVersion(
            make(
                data_service_pb2.CreateDatasetVersionRequest,
                {
                    "dataset_version": {
                        "dataset_id": self.dataset.meta.id,
                        "definition": {
                            "data_path": {
                                "datastore": {"kind": "RESOURCE_KIND_DATASTORE", "name": "lake"},
                                "path": {"relative_path": path},
                            }
                        },
                        "content_digest": {"digests": {"sha256": str(i) * 64}},
                    }
                },
            )
        ).dataset_version

    def model_version(self, major: int) -> Any:
        return self.stubs.models.CreateModelVersion(
            make(
                models_service_pb2.CreateModelVersionRequest,
                {
                    "model_version": {
                        "model_id": self.model.meta.id,
                        "version": {"major": major},
                        "artifact": {"uri": f"s3://m/{major}", "digest": SHA_A},
                    }
                },
            )
        ).model_version

    def report(self, **fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "stage": "LIFECYCLE_STAGE_MODEL_TRAINING",
            "run_id": self.run.meta.id,
            "start_time": "2026-03-01T10:00:00Z",
            "status": "STAGE_REPORT_STATUS_SUCCEEDED",
            "model_training": {
                "model_format": "onnx",
                "output_model": ref("RESOURCE_KIND_MODEL_VERSION", self.mv[0].meta.id),
            },
        }
        for key, value in fields.items():
            if value is None:
                body.pop(key, None)
            else:
                body[key] = value
        return body

    def send(self, body: dict[str, Any]) -> Any:
        return self.stubs.lifecycle.ReportStage(
            make(lc.ReportStageRequest, {"stage_report": body})
        ).stage_report

    def refused(self, body: dict[str, Any], code: grpc.StatusCode) -> str:
        """Sends a report that must fail with ``code``; returns the error message."""
        with pytest.raises(grpc.RpcError) as err:
            self.send(body)
        assert err.value.code() == code, err.value.details()
        return str(err.value.details())


@pytest.fixture
def world(stubs: Stubs) -> World:
    return World(stubs)


def ref(kind: str, resource_id: str) -> dict[str, str]:
    return {"kind": kind, "id": resource_id}


def violated_fields(err: grpc.RpcError) -> set[str]:
    from google.rpc import error_details_pb2

    status = rpc_status.from_call(err)
    assert status is not None
    fields: set[str] = set()
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields |= {v.field for v in bad.field_violations}
    return fields


# -- item 8: ReportStage ------------------------------------------------------------------


def test_a_report_without_payload_is_invalid(world: World) -> None:
    with pytest.raises(grpc.RpcError) as err:
        world.send(world.report(model_training=None))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "stage_report.model_training" in violated_fields(err.value)


def test_an_endpoint_without_resource_is_invalid(world: World) -> None:
    for side in ("inputs", "outputs"):
        with pytest.raises(grpc.RpcError) as err:
            world.send(world.report(**{side: [{"role": "training_data"}]}))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert f"stage_report.{side}[0].resource" in violated_fields(err.value)


def test_model_version_must_reference_a_model_version(world: World) -> None:
    world.refused(
        world.report(model_version=ref("RESOURCE_KIND_DATASET", world.dataset.meta.id)),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    world.refused(
        world.report(model_version=ref(MV, world.dsv[0].meta.id)), grpc.StatusCode.NOT_FOUND
    )
    stored = world.send(
        world.report(
            model_version={"kind": "RESOURCE_KIND_MODEL", "name": "churn", "version": "2.0.0"}
        )
    )
    assert stored.model_version.kind == reference_pb2.RESOURCE_KIND_MODEL_VERSION
    assert stored.model_version.id == world.mv[1].meta.id


def test_an_input_digest_must_agree_with_the_recorded_one(world: World) -> None:
    for kind, resource_id in (
        ("RESOURCE_KIND_ARTIFACT", world.artifact.meta.id),
        (MV, world.mv[0].meta.id),
        (DSV, world.dsv[0].meta.id),
    ):
        wrong = {"resource": ref(kind, resource_id), "digest": SHA_B}
        message = world.refused(world.report(inputs=[wrong]), grpc.StatusCode.FAILED_PRECONDITION)
        assert "digest" in message
    # Agreeing digests, other algorithms and outputs are accepted.
    world.send(
        world.report(
            inputs=[
                {
                    "resource": ref("RESOURCE_KIND_ARTIFACT", world.artifact.meta.id),
                    "digest": SHA_A,
                },
                {"resource": ref(DSV, world.dsv[1].meta.id), "digest": {"digests": {"md5": "c"}}},
            ],
            outputs=[{"resource": ref(MV, world.mv[0].meta.id), "digest": SHA_B}],
        )
    )


def test_an_empty_name_is_generated_from_the_stage_and_the_id(world: World) -> None:
    stored = world.send(world.report())
    assert stored.meta.name == f"model-training-{stored.meta.id}"
    listed = world.stubs.lifecycle.ListStageReports(
        lc.ListStageReportsRequest(filter=f'name = "{stored.meta.name}"')
    )
    assert [r.meta.id for r in listed.stage_reports] == [stored.meta.id]


def test_pipeline_run_id_is_filled_from_the_step_run(world: World) -> None:
    stubs = world.stubs
    ingest = module(stubs, "ingest", [], ["rows"])
    train = module(
        stubs,
        "train",
        [{"name": "examples", "artifact_type": {"schema_title": "system.Dataset"}}],
        ["model"],
        [{"name": "lr", "type": "VALUE_TYPE_DOUBLE"}],
    )
    g = graph(ingest, train)
    draft = stubs.pipelines.CreatePipelineDraft(
        ppb.CreatePipelineDraftRequest(
            pipeline_draft=make(pipeline_pb2.PipelineDraft, {"meta": {"name": "p"}, "graph": g})
        )
    ).pipeline_draft
    pipeline = stubs.pipelines.PublishPipelineDraft(
        ppb.PublishPipelineDraftRequest(draft_id=draft.meta.id)
    ).pipeline
    run = stubs.pipelines.SubmitPipeline(
        make(
            ppb.SubmitPipelineRequest, {"pipeline": ref("RESOURCE_KIND_PIPELINE", pipeline.meta.id)}
        )
    ).pipeline_run
    step = stubs.pipelines.CreateStepRun(
        ppb.CreateStepRunRequest(
            step_run=pipeline_run_pb2.StepRun(pipeline_run_id=run.meta.id, vertex_id="train")
        )
    ).step_run
    stored = world.send(world.report(run_id=None, step_run_id=step.meta.id))
    assert stored.pipeline_run_id == run.meta.id
    listed = stubs.lifecycle.ListStageReports(
        lc.ListStageReportsRequest(pipeline_run_id=run.meta.id)
    )
    assert [r.meta.id for r in listed.stage_reports] == [stored.meta.id]
    other = stubs.pipelines.SubmitPipeline(
        make(
            ppb.SubmitPipelineRequest, {"pipeline": ref("RESOURCE_KIND_PIPELINE", pipeline.meta.id)}
        )
    ).pipeline_run
    with pytest.raises(grpc.RpcError) as err:
        world.send(
            world.report(run_id=None, step_run_id=step.meta.id, pipeline_run_id=other.meta.id)
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "stage_report.pipeline_run_id" in violated_fields(err.value)


def test_batch_report_stages_takes_at_most_500(world: World) -> None:
    too_many = make(
        lc.BatchReportStagesRequest, {"stage_reports": [world.report() for _ in range(501)]}
    )
    with pytest.raises(grpc.RpcError) as err:
        world.stubs.lifecycle.BatchReportStages(too_many)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad = make(
        lc.BatchReportStagesRequest,
        {"stage_reports": [world.report(), world.report(), world.report(model_training=None)]},
    )
    with pytest.raises(grpc.RpcError) as err:
        world.stubs.lifecycle.BatchReportStages(bad)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "stage_reports[2]" in str(err.value.details())
    listed = world.stubs.lifecycle.ListStageReports(
        lc.ListStageReportsRequest(run_id=world.run.meta.id)
    )
    assert not listed.stage_reports
    ok = make(lc.BatchReportStagesRequest, {"stage_reports": [world.report(), world.report()]})
    assert len(world.stubs.lifecycle.BatchReportStages(ok).stage_reports) == 2


# -- item 7: the stage 9 hold-back rules --------------------------------------------------


def evaluation(world: World, mv: int, **fields: Any) -> Any:
    mv_ref = ref(MV, world.mv[mv].meta.id)
    times = {"start_time": "2026-03-02T10:00:00Z", "end_time": "2026-03-02T11:00:00Z", **fields}
    return world.send(
        world.report(
            stage="LIFECYCLE_STAGE_MODEL_EVALUATION",
            model_training=None,
            model_version=mv_ref,
            **times,
            model_evaluation={
                "candidate_model": mv_ref,
                "datasets": [
                    {
                        "dataset": ref(DSV, world.dsv[1].meta.id),
                        "split": "validation",
                        "digest": {"digests": {"sha256": "1" * 64}},
                    }
                ],
                "objectives_outcome": "THRESHOLD_OUTCOME_PASSED",
                "decision": "MODEL_GATE_DECISION_APPROVED",
            },
        )
    )


def model_test(world: World, mv: int, evaluation_id: str, **test: Any) -> dict[str, Any]:
    holdback = world.dsv[2]
    payload: dict[str, Any] = {
        "evaluation_report_id": evaluation_id,
        "model": ref(MV, world.mv[mv].meta.id),
        "holdback_dataset": {
            "dataset": ref(DSV, holdback.meta.id),
            "split": "holdback",
            "digest": {"digests": {"sha256": "2" * 64}},
        },
        "disjointness": {
            "holdback_dataset": ref(DSV, holdback.meta.id),
            "holdback_digest": {"digests": {"sha256": "2" * 64}},
            "compared_datasets": [ref(DSV, world.dsv[1].meta.id)],
            "compared_digests": [{"digests": {"sha256": "1" * 64}}],
            "overlap_count": 0,
            "outcome": "THRESHOLD_OUTCOME_PASSED",
        },
        "use_attestation": {"use_count": 7},
        "test_result": {"result": "THRESHOLD_OUTCOME_PASSED"},
        "objectives_outcome": "THRESHOLD_OUTCOME_PASSED",
        "decision": "MODEL_GATE_DECISION_APPROVED",
    }
    payload.update(test)
    return world.report(
        stage="LIFECYCLE_STAGE_MODEL_TEST",
        model_training=None,
        model_version=ref(MV, world.mv[mv].meta.id),
        start_time="2026-03-02T12:00:00Z",
        inputs=[{"resource": ref(DSV, holdback.meta.id), "role": "holdback_data"}],
        model_test=payload,
    )


def test_a_model_test_follows_a_stage_8_report_of_the_same_model_version(world: World) -> None:
    training = world.send(world.report())
    first = evaluation(world, 0)
    other = evaluation(world, 1)
    for evaluation_id in ("nope", training.meta.id, other.meta.id):
        message = world.refused(
            model_test(world, 0, evaluation_id), grpc.StatusCode.FAILED_PRECONDITION
        )
        assert "stage 8" in message
    # A report that names no stage 8 report leaves a Required field empty.
    message = world.refused(model_test(world, 0, ""), grpc.StatusCode.INVALID_ARGUMENT)
    assert "model_test.evaluation_report_id is required" in message
    late = evaluation(world, 0, end_time="2026-03-02T12:30:00Z")
    world.refused(model_test(world, 0, late.meta.id), grpc.StatusCode.FAILED_PRECONDITION)
    stored = world.send(model_test(world, 0, first.meta.id))
    assert stored.model_test.use_attestation.use_count == 1


def test_a_model_test_on_overlapping_data_is_refused(world: World) -> None:
    first = evaluation(world, 0)
    base = model_test(world, 0, first.meta.id)
    overlapping = dict(base["model_test"]["disjointness"], overlap_count=42)
    world.refused(
        model_test(world, 0, first.meta.id, disjointness=overlapping),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    same_digest = dict(
        base["model_test"]["disjointness"], compared_digests=[{"digests": {"sha256": "2" * 64}}]
    )
    world.refused(
        model_test(world, 0, first.meta.id, disjointness=same_digest),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    # The evaluation's own data is no hold-back set.
    evaluated = {
        "dataset": ref(DSV, world.dsv[1].meta.id),
        "split": "holdback",
        "digest": {"digests": {"sha256": "3" * 64}},
    }
    world.refused(
        model_test(world, 0, first.meta.id, holdback_dataset=evaluated),
        grpc.StatusCode.FAILED_PRECONDITION,
    )


def test_a_hold_back_set_is_used_once_per_model_lineage(world: World) -> None:
    first = evaluation(world, 0)
    used = world.send(model_test(world, 0, first.meta.id))
    message = world.refused(
        model_test(world, 0, first.meta.id), grpc.StatusCode.FAILED_PRECONDITION
    )
    assert used.meta.id in message
    # Another version of the same model may not use it either: the lineage used it.
    second = evaluation(world, 1)
    message = world.refused(
        model_test(world, 1, second.meta.id), grpc.StatusCode.FAILED_PRECONDITION
    )
    assert "once per model lineage" in message and used.meta.id in message
    # A version of another model may use the same set once; its attestation lists the
    # earlier use.
    other = world.stubs.models.CreateModel(
        models_service_pb2.CreateModelRequest(model=model_pb2.Model(meta={"name": "other"}))
    ).model
    world.model = other
    world.mv.append(world.model_version(1))
    third = evaluation(world, 2)
    stored = world.send(model_test(world, 2, third.meta.id))
    attestation = stored.model_test.use_attestation
    assert attestation.use_count == 1
    assert [u.stage_report_id for u in attestation.previous_uses] == [used.meta.id]
    assert attestation.previous_uses[0].model.id == world.mv[0].meta.id
    # In one batch, the second report sees the first (and neither is recorded).
    world.model = world.stubs.models.CreateModel(
        models_service_pb2.CreateModelRequest(model=model_pb2.Model(meta={"name": "third"}))
    ).model
    world.mv.append(world.model_version(1))
    fourth = evaluation(world, 3)
    batch = make(
        lc.BatchReportStagesRequest,
        {
            "stage_reports": [
                model_test(world, 3, fourth.meta.id),
                model_test(world, 3, fourth.meta.id),
            ]
        },
    )
    with pytest.raises(grpc.RpcError) as err:
        world.stubs.lifecycle.BatchReportStages(batch)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "stage_reports[1]" in str(err.value.details())
    world.send(model_test(world, 3, fourth.meta.id))


# -- item 20: GetLineage ------------------------------------------------------------------


def lineage(stubs: Stubs, start: dict[str, str], **fields: Any) -> Any:
    return stubs.lifecycle.GetLineage(make(lc.GetLineageRequest, {"start": start, **fields})).graph


def trained(world: World) -> Any:
    return world.send(
        world.report(
            inputs=[{"resource": ref(DSV, world.dsv[0].meta.id), "role": "training_data"}],
            outputs=[{"resource": ref(MV, world.mv[0].meta.id), "role": "model"}],
        )
    )


def edges_of(graph: lineage_pb2.LineageGraph) -> set[tuple[str, str, str, str]]:
    return {
        (e.source_id, e.target_id, lineage_pb2.LineageEdgeKind.Name(e.kind), e.role)
        for e in graph.edges
    }


def test_lineage_edges_carry_roles_and_point_as_the_contract_defines(world: World) -> None:
    report = trained(world)
    dsv, mv = world.dsv[0].meta.id, world.mv[0].meta.id
    graph = lineage(world.stubs, ref(MV, mv))  # UPSTREAM when unspecified
    edges = edges_of(graph)
    assert (dsv, report.meta.id, "LINEAGE_EDGE_KIND_CONSUMED", "training_data") in edges
    assert (report.meta.id, mv, "LINEAGE_EDGE_KIND_PRODUCED", "model") in edges
    # "The source is a version of the target"; "the source is part of the target".
    assert (dsv, world.dataset.meta.id, "LINEAGE_EDGE_KIND_VERSION_OF", "") in edges
    assert (report.meta.id, world.run.meta.id, "LINEAGE_EDGE_KIND_PART_OF", "") in edges
    ids = {n.resource.id for n in graph.nodes}
    assert all(e.source_id in ids and e.target_id in ids for e in graph.edges)
    versions = {n.resource.id: n.version for n in graph.nodes}
    assert versions[mv] == "1.0.0" and versions[dsv] == "1"
    assert versions[world.dataset.meta.id] == "" and versions[report.meta.id] == ""
    down = lineage(world.stubs, ref(MV, mv), direction="LINEAGE_DIRECTION_DOWNSTREAM")
    assert {n.resource.id for n in down.nodes} == {mv}
    both = lineage(world.stubs, ref(MV, mv), direction="LINEAGE_DIRECTION_BOTH")
    assert (mv, world.model.meta.id, "LINEAGE_EDGE_KIND_VERSION_OF", "") in edges_of(both)


def test_node_kinds_collapse_edges_across_the_omitted_nodes(world: World) -> None:
    trained(world)
    dsv, mv = world.dsv[0].meta.id, world.mv[0].meta.id
    graph = lineage(world.stubs, ref(MV, mv), node_kinds=[DSV])
    assert {n.resource.id for n in graph.nodes} == {mv, dsv}
    assert edges_of(graph) == {(dsv, mv, "LINEAGE_EDGE_KIND_DERIVED_FROM", "training_data")}
    graph = lineage(world.stubs, ref(MV, mv), node_kinds=["RESOURCE_KIND_DATASET"])
    assert {(e.source_id, e.target_id) for e in graph.edges} == {(world.dataset.meta.id, mv)}


def test_unknown_node_kinds_or_direction_are_invalid(world: World) -> None:
    start = ref(MV, world.mv[0].meta.id)
    for fields in ({"node_kinds": [555]}, {"node_kinds": [0]}, {"direction": 9}):
        with pytest.raises(grpc.RpcError) as err:
            lineage(world.stubs, start, **fields)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
