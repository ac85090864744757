"""The run state machine, stage reporting and lineage (issue 3 items 3-5), as data."""

from __future__ import annotations

from typing import Any

import pytest

from .builders import (
    K_DATASET,
    K_DATASET_VERSION,
    K_MODEL_VERSION,
    K_RUN,
    K_STAGE_REPORT,
    T0,
    T1,
    archive,
    dataset,
    datastore,
    experiment,
    model,
    model_version,
    ref,
    report,
    run,
    set_run_state,
    training_report,
    version,
)
from .engine import Case, Client, HasItem, Ids, Len, NotIds, Present, Step, fails, ok, run_case

RUN_ID = "$run.run.meta.id"
UPDATE_RUN = "TrackingService.UpdateRunState"
REPORT = "LifecycleService.ReportStage"


def move(state: str, **expect: str) -> Step:
    return ok(UPDATE_RUN, set_run_state(state), expect={"run.state": state, **expect})


def refused(state: str, reason: str = "RUN_TERMINAL") -> Step:
    return fails(UPDATE_RUN, set_run_state(state), "FAILED_PRECONDITION", reason=reason)


RUNS = [
    Case(
        "a new run starts pending",
        [
            experiment(),
            run(),
            ok("TrackingService.GetRun", {"id": RUN_ID}, expect={"run.state": "RUN_STATE_PENDING"}),
        ],
    ),
    Case(
        "a run moves from pending to running to succeeded",
        [experiment(), run(), move("RUN_STATE_RUNNING"), move("RUN_STATE_SUCCEEDED")],
    ),
    Case(
        "a pending run may be cancelled",
        [experiment(), run(), move("RUN_STATE_CANCELLED")],
    ),
    Case(
        "a succeeded run cannot run again",
        [
            experiment(),
            run(),
            move("RUN_STATE_RUNNING"),
            move("RUN_STATE_SUCCEEDED"),
            refused("RUN_STATE_RUNNING"),
        ],
    ),
    Case(
        "a failed run cannot become succeeded",
        [
            experiment(),
            run(),
            move("RUN_STATE_RUNNING"),
            move("RUN_STATE_FAILED"),
            refused("RUN_STATE_SUCCEEDED"),
        ],
    ),
    Case(
        "a cancelled run cannot go back to pending",
        [experiment(), run(), move("RUN_STATE_CANCELLED"), refused("RUN_STATE_PENDING")],
    ),
    Case(
        "a running run cannot go back to pending",
        [
            experiment(),
            run(),
            move("RUN_STATE_RUNNING"),
            refused("RUN_STATE_PENDING", "RUN_STATE_BACKWARDS"),
        ],
    ),
    Case(
        "a run cannot be moved to an unspecified state",
        [
            experiment(),
            run(),
            fails(
                UPDATE_RUN,
                set_run_state("RUN_STATE_UNSPECIFIED"),
                "INVALID_ARGUMENT",
                field="state",
            ),
        ],
    ),
    Case(
        "UpdateRun refuses to change the state (state changes go through UpdateRunState)",
        [
            experiment(),
            run(),
            fails(
                "TrackingService.UpdateRun",
                {
                    "run": {"meta": {"id": RUN_ID}, "state": "RUN_STATE_RUNNING"},
                    "update_mask": "state",
                },
                "INVALID_ARGUMENT",
                field="run.state",
            ),
        ],
    ),
    Case(
        "a finished run's labels can still change",
        [
            experiment(),
            run(),
            move("RUN_STATE_SUCCEEDED"),
            ok(
                "TrackingService.UpdateRun",
                {
                    "run": {"meta": {"id": RUN_ID, "labels": {"k": "v"}}},
                    "update_mask": "meta.labels",
                },
                expect={"run.meta.labels": {"k": "v"}, "run.state": "RUN_STATE_SUCCEEDED"},
            ),
        ],
    ),
    Case(
        "a state change of an unknown run is not found",
        [fails(UPDATE_RUN, set_run_state("RUN_STATE_RUNNING", run_id="nope"), "NOT_FOUND")],
    ),
]


def bad_report(case_id: str, field: str, **changes: object) -> Case:
    body = training_report()
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return Case(
        case_id,
        [
            experiment(),
            run(),
            model(),
            model_version(),
            fails(REPORT, {"stage_report": body}, "INVALID_ARGUMENT", field=field),
        ],
    )


REPORTS = [
    Case(
        "a training report is stored and read back by id",
        [
            experiment(),
            run(),
            model(),
            model_version(),
            report(),
            ok(
                "LifecycleService.GetStageReport",
                {"id": "$rep.stage_report.meta.id"},
                expect={
                    "stage_report.stage": "LIFECYCLE_STAGE_MODEL_TRAINING",
                    "stage_report.run_id": RUN_ID,
                    "stage_report.model_training.model_format": "onnx",
                },
            ),
        ],
    ),
    bad_report(
        "a payload that does not match the stage is rejected on the payload field",
        "stage_report.data_ingestion",
        model_training=None,
        data_ingestion={},
    ),
    bad_report(
        "a report without run_id or step_run_id is rejected", "stage_report.run_id", run_id=None
    ),
    bad_report(
        "a report without a stage is rejected",
        "stage_report.stage",
        stage="LIFECYCLE_STAGE_UNSPECIFIED",
    ),
    bad_report(
        "a report that ends before it starts is rejected",
        "stage_report.end_time",
        start_time=T1,
        end_time=T0,
    ),
    bad_report(
        "a report without a start time is rejected", "stage_report.start_time", start_time=None
    ),
    Case(
        "a report on an unknown run is not found",
        [
            model(),
            model_version(),
            fails(REPORT, {"stage_report": training_report(run_id="no-such-run")}, "NOT_FOUND"),
        ],
    ),
    Case(
        "a report on an archived run is refused",
        [
            experiment(),
            run(),
            model(),
            model_version(),
            archive(K_RUN, RUN_ID),
            fails(
                REPORT,
                {"stage_report": training_report()},
                "FAILED_PRECONDITION",
                reason="RESOURCE_ARCHIVED",
            ),
        ],
    ),
    Case(
        "a report whose input does not exist is not found",
        [
            experiment(),
            run(),
            model(),
            model_version(),
            fails(
                REPORT, {"stage_report": training_report(inputs=["no-such-version"])}, "NOT_FOUND"
            ),
        ],
    ),
    Case(
        "a batch of two reports stores both",
        [
            experiment(),
            run(),
            model(),
            model_version(),
            ok(
                "LifecycleService.BatchReportStages",
                {"stage_reports": [training_report(), training_report()]},
                expect={"stage_reports": Len(2)},
            ),
            ok(
                "LifecycleService.ListStageReports",
                {"run_id": RUN_ID},
                expect={"stage_reports": Len(2)},
            ),
        ],
    ),
    Case(
        "a batch with one bad report stores none",
        [
            experiment(),
            run(),
            model(),
            model_version(),
            fails(
                "LifecycleService.BatchReportStages",
                {"stage_reports": [training_report(), training_report(run_id="")]},
                "INVALID_ARGUMENT",
            ),
            ok(
                "LifecycleService.ListStageReports",
                {"run_id": RUN_ID},
                expect={"stage_reports": Len(0)},
            ),
        ],
    ),
    Case(
        "an empty batch is rejected",
        [fails("LifecycleService.BatchReportStages", {"stage_reports": []}, "INVALID_ARGUMENT")],
    ),
    Case(
        "stage reports are listed by model version",
        [
            experiment(),
            run(),
            model(),
            model_version(),
            report(
                outputs=["$mv.model_version.meta.id"],
                model_version=ref(K_MODEL_VERSION, "$mv.model_version.meta.id"),
            ),
            report(save="other"),
            ok(
                "LifecycleService.ListStageReports",
                {"model_version": ref(K_MODEL_VERSION, "$mv.model_version.meta.id")},
                expect={"stage_reports": Ids(["$rep.stage_report.meta.id"])},
            ),
        ],
    ),
]

MV_ID = "$mv.model_version.meta.id"
DSV_ID = "$dsv.dataset_version.meta.id"
DS_ID = "$ds.dataset.meta.id"
REP_ID = "$rep.stage_report.meta.id"


def trained_model() -> list[Step]:
    """A dataset version, a run, a model version and the training report that links them."""
    return [
        datastore(),
        dataset("churn"),
        version(),
        experiment(),
        run(),
        model(),
        model_version(),
        report(inputs=[DSV_ID], outputs=[MV_ID]),
    ]


def lineage(start: dict[str, Any], direction: str, **extra: object) -> dict[str, Any]:
    return {"start": start, "direction": direction, **extra}


UP = "LINEAGE_DIRECTION_UPSTREAM"
DOWN = "LINEAGE_DIRECTION_DOWNSTREAM"
GET_LINEAGE = "LifecycleService.GetLineage"

LINEAGE = [
    Case(
        "upstream from a model version finds the training report its data and its run",
        [
            *trained_model(),
            ok(
                GET_LINEAGE,
                lineage(ref(K_MODEL_VERSION, MV_ID), UP),
                expect={
                    "graph.root.id": MV_ID,
                    "graph.nodes": Ids(
                        [MV_ID, REP_ID, DSV_ID, DS_ID, RUN_ID], key="resource.id", exact=False
                    ),
                },
            ),
        ],
    ),
    Case(
        "the upstream graph marks the report with its stage and joins it by edges",
        [
            *trained_model(),
            ok(
                GET_LINEAGE,
                lineage(ref(K_MODEL_VERSION, MV_ID), UP),
                expect={
                    "graph.nodes": HasItem(
                        {"resource.id": REP_ID, "stage": "LIFECYCLE_STAGE_MODEL_TRAINING"}
                    ),
                    "graph.edges": HasItem({"source_id": DSV_ID, "target_id": REP_ID}),
                },
            ),
        ],
    ),
    Case(
        "downstream from a dataset finds the model version built from it",
        [
            *trained_model(),
            ok(
                GET_LINEAGE,
                lineage(ref(K_DATASET, DS_ID), DOWN),
                expect={
                    "graph.nodes": Ids(
                        [DS_ID, DSV_ID, REP_ID, MV_ID], key="resource.id", exact=False
                    )
                },
            ),
        ],
    ),
    Case(
        "downstream from a model version does not walk back to its data",
        [
            *trained_model(),
            ok(
                GET_LINEAGE,
                lineage(ref(K_MODEL_VERSION, MV_ID), DOWN),
                expect={"graph.nodes": NotIds([DSV_ID, DS_ID, REP_ID], key="resource.id")},
            ),
        ],
    ),
    Case(
        "max_depth 1 stops upstream at the training report",
        [
            *trained_model(),
            ok(
                GET_LINEAGE,
                lineage(ref(K_MODEL_VERSION, MV_ID), UP, max_depth=1),
                expect={
                    "graph.nodes": Ids([MV_ID, REP_ID], key="resource.id", exact=False),
                    "graph.truncated": True,
                },
            ),
            ok(
                GET_LINEAGE,
                lineage(ref(K_MODEL_VERSION, MV_ID), UP, max_depth=1),
                expect={"graph.nodes": NotIds([DSV_ID, DS_ID, RUN_ID], key="resource.id")},
            ),
        ],
    ),
    Case(
        "max_depth 2 reaches the dataset version but not the dataset",
        [
            *trained_model(),
            ok(
                GET_LINEAGE,
                lineage(ref(K_MODEL_VERSION, MV_ID), UP, max_depth=2),
                expect={
                    "graph.nodes": NotIds([DS_ID], key="resource.id"),
                    "graph.nodes.0.resource.id": MV_ID,
                },
            ),
        ],
    ),
    Case(
        "node_kinds keeps only the asked kinds besides the root",
        [
            *trained_model(),
            ok(
                GET_LINEAGE,
                lineage(ref(K_MODEL_VERSION, MV_ID), UP, node_kinds=[K_DATASET]),
                expect={"graph.nodes": Ids([MV_ID, DS_ID], key="resource.id")},
            ),
        ],
    ),
    Case(
        "a lineage query may start from a name",
        [
            *trained_model(),
            ok(
                GET_LINEAGE,
                lineage({"kind": K_DATASET, "name": "churn"}, DOWN),
                expect={
                    "graph.root.id": DS_ID,
                    "graph.nodes": Ids([MV_ID], key="resource.id", exact=False),
                },
            ),
        ],
    ),
    Case(
        "max_depth 100 is accepted",
        [
            *trained_model(),
            ok(
                GET_LINEAGE,
                lineage(ref(K_MODEL_VERSION, MV_ID), UP, max_depth=100),
                expect={"graph.nodes": Present()},
            ),
        ],
    ),
    Case(
        "max_depth 101 is rejected",
        [
            *trained_model(),
            fails(
                GET_LINEAGE,
                lineage(ref(K_MODEL_VERSION, MV_ID), UP, max_depth=101),
                "INVALID_ARGUMENT",
                field="max_depth",
            ),
        ],
    ),
    Case(
        "a negative max_depth is rejected",
        [
            *trained_model(),
            fails(
                GET_LINEAGE,
                lineage(ref(K_MODEL_VERSION, MV_ID), UP, max_depth=-1),
                "INVALID_ARGUMENT",
                field="max_depth",
            ),
        ],
    ),
    Case(
        "lineage of an unknown id is not found",
        [fails(GET_LINEAGE, lineage(ref(K_MODEL_VERSION, "nope"), UP), "NOT_FOUND")],
    ),
    Case(
        "lineage from a reference without a kind is rejected",
        [fails(GET_LINEAGE, lineage({"id": "x"}, UP), "INVALID_ARGUMENT")],
    ),
    Case(
        "lineage without a start is rejected",
        [fails(GET_LINEAGE, {"direction": UP}, "INVALID_ARGUMENT")],
    ),
    Case(
        "lineage from an archived dataset version is still readable by id",
        [
            *trained_model(),
            archive(K_DATASET_VERSION, DSV_ID),
            ok(
                GET_LINEAGE,
                lineage(ref(K_DATASET_VERSION, DSV_ID), DOWN),
                expect={
                    "graph.nodes": Ids([DSV_ID, REP_ID, MV_ID], key="resource.id", exact=False)
                },
            ),
        ],
    ),
    Case(
        "a stage report is a lineage node of its own kind",
        [
            *trained_model(),
            ok(
                GET_LINEAGE,
                lineage(ref(K_STAGE_REPORT, REP_ID), "LINEAGE_DIRECTION_BOTH", max_depth=1),
                expect={"graph.nodes": Ids([REP_ID, DSV_ID, MV_ID, RUN_ID], key="resource.id")},
            ),
        ],
    ),
]

CASES = RUNS + REPORTS + LINEAGE


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(client: Client, case: Case) -> None:
    run_case(client, case)
