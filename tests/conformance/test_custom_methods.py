"""Custom methods of the contract (not Create/Get/List/Update): run state changes, metrics,
artifact promotion, publishing and submitting pipelines. A server that has not written
them yet answers UNIMPLEMENTED, so these cases fail until it does."""

from __future__ import annotations

from typing import Any

import pytest

from .builders import (
    K_DATASET,
    K_PIPELINE,
    T0,
    archive,
    dataset,
    datastore,
    experiment,
    ref,
    run,
)
from .engine import Case, Client, HasItem, Len, Present, Step, fails, ok, run_case

RUN_ID = "$run.run.meta.id"
STATE = "TrackingService.UpdateRunState"
LOG = "TrackingService.LogMetrics"
PROMOTE = "DataService.PromoteArtifact"


def state(to: str, run_id: str = RUN_ID, **extra: object) -> dict[str, Any]:
    return {"run_id": run_id, "state": to, **extra}


def scalar(key: str, value: float, step: int = 0) -> dict[str, Any]:
    return {"key": key, "value": {"double_value": value}, "step": step, "timestamp": T0}


RUN_STATE = [
    Case(
        "UpdateRunState moves a run to running and records the transition",
        [
            experiment(),
            run(),
            ok(
                STATE,
                state("RUN_STATE_RUNNING"),
                expect={
                    "run.state": "RUN_STATE_RUNNING",
                    "run.state_history": HasItem(
                        {"from_state": "RUN_STATE_PENDING", "to_state": "RUN_STATE_RUNNING"}
                    ),
                },
            ),
        ],
    ),
    Case(
        "UpdateRunState refuses any move out of a terminal state",
        [
            experiment(),
            run(),
            ok(STATE, state("RUN_STATE_RUNNING")),
            ok(STATE, state("RUN_STATE_SUCCEEDED")),
            fails(STATE, state("RUN_STATE_RUNNING"), "FAILED_PRECONDITION", reason="RUN_TERMINAL"),
            fails(STATE, state("RUN_STATE_FAILED", error={"message": "x"}), "FAILED_PRECONDITION"),
        ],
    ),
    Case(
        "UpdateRunState refuses going back from running to pending",
        [
            experiment(),
            run(),
            ok(STATE, state("RUN_STATE_RUNNING")),
            fails(STATE, state("RUN_STATE_PENDING"), "FAILED_PRECONDITION"),
        ],
    ),
    Case(
        "UpdateRunState rejects the unspecified state",
        [
            experiment(),
            run(),
            fails(STATE, state("RUN_STATE_UNSPECIFIED"), "INVALID_ARGUMENT", field="state"),
        ],
    ),
    Case(
        "UpdateRunState rejects a failed state without an error",
        [experiment(), run(), fails(STATE, state("RUN_STATE_FAILED"), "INVALID_ARGUMENT")],
    ),
    Case(
        "UpdateRunState on an unknown run is not found",
        [fails(STATE, state("RUN_STATE_RUNNING", run_id="nope"), "NOT_FOUND")],
    ),
    Case(
        "UpdateRunState with a stale etag is aborted",
        [
            experiment(),
            run(),
            ok(STATE, state("RUN_STATE_RUNNING")),
            fails(
                STATE,
                state("RUN_STATE_SUCCEEDED", etag="$run.run.meta.etag"),
                "ABORTED",
                reason="ETAG_MISMATCH",
            ),
        ],
    ),
]

METRICS = [
    Case(
        "LogMetrics records scalar metrics on a running run",
        [
            experiment(),
            run(),
            ok(
                LOG,
                {"run_id": RUN_ID, "metrics": [scalar("auc", 0.9, 1), scalar("auc", 0.92, 2)]},
                expect={"recorded_count": 2},
            ),
            ok(
                "TrackingService.GetMetricHistory",
                {"run_id": RUN_ID, "key": "auc"},
                expect={"history": Present()},
            ),
        ],
    ),
    Case(
        "LogMetrics on a finished run is refused",
        [
            experiment(),
            run(),
            ok(
                "TrackingService.UpdateRunState", {"run_id": RUN_ID, "state": "RUN_STATE_SUCCEEDED"}
            ),
            fails(LOG, {"run_id": RUN_ID, "metrics": [scalar("auc", 0.9)]}, "FAILED_PRECONDITION"),
        ],
    ),
    Case(
        "LogMetrics on an unknown run is not found",
        [fails(LOG, {"run_id": "nope", "metrics": [scalar("auc", 0.9)]}, "NOT_FOUND")],
    ),
    Case(
        "LogMetrics rejects a metric without a value",
        [
            experiment(),
            run(),
            fails(LOG, {"run_id": RUN_ID, "metrics": [{"key": "auc"}]}, "INVALID_ARGUMENT"),
        ],
    ),
]


def artifact(save: str = "art", state: str = "ARTIFACT_STATE_LIVE") -> Step:
    return ok(
        "DataService.CreateArtifact",
        {
            "artifact": {
                "meta": {"name": "features"},
                "run_id": RUN_ID,
                "type": "ARTIFACT_TYPE_DATASET",
                "state": state,
                "location": {
                    "datastore": {"kind": "RESOURCE_KIND_DATASTORE", "name": "lake"},
                    "path": {"relative_path": "runs/1/features/"},
                },
            }
        },
        save=save,
    )


ART_ID = "$art.artifact.meta.id"

PROMOTION = [
    Case(
        "an artifact is promoted to a new dataset with its first version",
        [
            datastore(),
            experiment(),
            run(),
            artifact(),
            ok(
                PROMOTE,
                {"artifact_id": ART_ID, "new_dataset": {"meta": {"name": "features"}}},
                expect={
                    "dataset.meta.name": "features",
                    "dataset_version.version": 1,
                    "dataset_version.source_artifact_id": ART_ID,
                    "artifact.promoted_dataset_version_id": Present(),
                },
            ),
        ],
    ),
    Case(
        "an artifact is promoted into an existing dataset as a new version",
        [
            datastore(),
            dataset("features"),
            experiment(),
            run(),
            artifact(),
            ok(
                PROMOTE,
                {"artifact_id": ART_ID, "existing_dataset": ref(K_DATASET, "$ds.dataset.meta.id")},
                expect={"dataset_version.dataset_id": "$ds.dataset.meta.id"},
            ),
        ],
    ),
    Case(
        "an artifact cannot be promoted twice",
        [
            datastore(),
            experiment(),
            run(),
            artifact(),
            ok(PROMOTE, {"artifact_id": ART_ID, "new_dataset": {"meta": {"name": "f1"}}}),
            fails(
                PROMOTE,
                {"artifact_id": ART_ID, "new_dataset": {"meta": {"name": "f2"}}},
                "ALREADY_EXISTS",
            ),
        ],
    ),
    Case(
        "an artifact cannot be promoted into an archived dataset",
        [
            datastore(),
            dataset("features"),
            archive(K_DATASET, "$ds.dataset.meta.id"),
            experiment(),
            run(),
            artifact(),
            fails(
                PROMOTE,
                {"artifact_id": ART_ID, "existing_dataset": ref(K_DATASET, "$ds.dataset.meta.id")},
                "FAILED_PRECONDITION",
            ),
        ],
    ),
    Case(
        "a pending artifact cannot be promoted",
        [
            datastore(),
            experiment(),
            run(),
            artifact(state="ARTIFACT_STATE_PENDING"),
            fails(
                PROMOTE,
                {"artifact_id": ART_ID, "new_dataset": {"meta": {"name": "f"}}},
                "FAILED_PRECONDITION",
            ),
        ],
    ),
    Case(
        "a promotion without a target is rejected",
        [
            datastore(),
            experiment(),
            run(),
            artifact(),
            fails(PROMOTE, {"artifact_id": ART_ID}, "INVALID_ARGUMENT"),
        ],
    ),
    Case(
        "a promotion of an unknown artifact is not found",
        [
            fails(
                PROMOTE,
                {"artifact_id": "nope", "new_dataset": {"meta": {"name": "f"}}},
                "NOT_FOUND",
            )
        ],
    ),
]

DRAFT = {"pipeline_draft": {"meta": {"name": "nightly"}, "graph": {}}}
PIPELINE_ID = "$pub.pipeline.meta.id"


def published() -> list[Step]:
    return [
        experiment(),
        ok("PipelinesService.CreatePipelineDraft", DRAFT, save="draft"),
        ok(
            "PipelinesService.PublishPipelineDraft",
            {"draft_id": "$draft.pipeline_draft.meta.id", "name": "nightly", "version": "1.0.0"},
            save="pub",
            expect={
                "pipeline.meta.id": Present(),
                "pipeline.published_from_draft_id": "$draft.pipeline_draft.meta.id",
            },
        ),
    ]


SUBMIT = "PipelinesService.SubmitPipeline"
PIPELINES = [
    Case(
        "a published pipeline is submitted as a pending pipeline run",
        [
            *published(),
            ok(
                SUBMIT,
                {
                    "pipeline": ref(K_PIPELINE, PIPELINE_ID),
                    "experiment_id": "$exp.experiment.meta.id",
                },
                expect={
                    "pipeline_run.pipeline_id": PIPELINE_ID,
                    "pipeline_run.state": "RUN_STATE_PENDING",
                    "pipeline_run.run_id": Present(),
                },
            ),
        ],
    ),
    Case(
        "a submission retried with the same request_id creates one pipeline run",
        [
            *published(),
            ok(
                SUBMIT,
                {
                    "pipeline": ref(K_PIPELINE, PIPELINE_ID),
                    "experiment_id": "$exp.experiment.meta.id",
                    "request_id": "s-1",
                },
                save="first",
            ),
            ok(
                SUBMIT,
                {
                    "pipeline": ref(K_PIPELINE, PIPELINE_ID),
                    "experiment_id": "$exp.experiment.meta.id",
                    "request_id": "s-1",
                },
                expect={"pipeline_run": "$first.pipeline_run"},
            ),
            ok("PipelinesService.ListPipelineRuns", {}, expect={"pipeline_runs": Len(1)}),
        ],
    ),
    Case(
        "an archived pipeline cannot be submitted",
        [
            *published(),
            archive(K_PIPELINE, PIPELINE_ID),
            fails(
                SUBMIT,
                {
                    "pipeline": ref(K_PIPELINE, PIPELINE_ID),
                    "experiment_id": "$exp.experiment.meta.id",
                },
                "FAILED_PRECONDITION",
                reason="RESOURCE_ARCHIVED",
            ),
        ],
    ),
    Case(
        "an unknown pipeline cannot be submitted",
        [
            fails(SUBMIT, {"pipeline": ref(K_PIPELINE, "nope")}, "NOT_FOUND"),
        ],
    ),
    Case(
        "a published pipeline's graph cannot be updated",
        [
            *published(),
            fails(
                "PipelinesService.UpdatePipeline",
                {
                    "pipeline": {"meta": {"id": PIPELINE_ID}, "graph": {"vertices": []}},
                    "update_mask": "graph",
                },
                "INVALID_ARGUMENT",
            ),
        ],
    ),
]

CASES = RUN_STATE + METRICS + PROMOTION + PIPELINES


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_custom_method(client: Client, case: Case) -> None:
    run_case(client, case)
