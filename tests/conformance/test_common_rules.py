"""SPEC.md section 2 (names, uniqueness, status, rename, no delete) and the write rules of
issue 3 item 7 (immutable fields, update_mask, etag, request_id), as data."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from .builders import (
    K_DATASET,
    K_DATASET_VERSION,
    K_MODEL,
    archive,
    dataset,
    dataset_version,
    datastore,
    deprecate,
    experiment,
    model,
    model_version,
    module,
    module_version,
    reactivate,
    ref,
    rename_request,
    run,
    training_report,
    version,
)
from .engine import (
    SERVICES,
    Absent,
    Case,
    Client,
    Differs,
    HasItem,
    Ids,
    Len,
    NotIds,
    Present,
    fails,
    ok,
    run_case,
)

DS_ID = "$ds.dataset.meta.id"
DSV_ID = "$dsv.dataset_version.meta.id"


def create_dataset_named(name: str) -> dict[str, Any]:
    return {"dataset": {"meta": {"name": name}}}


def bad_name(case_id: str, name: str, method: str = "DataService.CreateDataset") -> Case:
    bodies = {
        "DataService.CreateDataset": ({"dataset": {"meta": {"name": name}}}, "dataset.meta.name"),
        "ModelsService.CreateModel": ({"model": {"meta": {"name": name}}}, "model.meta.name"),
        "TrackingService.CreateExperiment": (
            {"experiment": {"meta": {"name": name}}},
            "experiment.meta.name",
        ),
        "DataService.CreateDatastore": (
            {"datastore": {"meta": {"name": name}, "type": "DATASTORE_TYPE_S3"}},
            "datastore.meta.name",
        ),
    }
    body, path = bodies[method]
    return Case(case_id, [fails(method, body, "INVALID_ARGUMENT", field=path)])


NAMES = [
    Case(
        "a 255 character name is accepted",
        [
            ok(
                "DataService.CreateDataset",
                create_dataset_named("a" * 255),
                expect={"dataset.meta.name": "a" * 255, "dataset.meta.id": Present()},
            )
        ],
    ),
    bad_name("a 256 character name is rejected on the name field", "a" * 256),
    bad_name("a name starting with a dash is rejected", "-churn"),
    bad_name("a name starting with an underscore is rejected", "_churn"),
    bad_name("a name with a non-ascii letter is rejected", "caf\u00e9"),
    bad_name("a name with a space is rejected", "churn data"),
    bad_name("a name with a dot is rejected", "churn.v1"),
    bad_name("an empty name is rejected", ""),
    bad_name("a 256 character model name is rejected", "m" * 256, "ModelsService.CreateModel"),
    bad_name(
        "an experiment name starting with a dash is rejected",
        "-exp",
        "TrackingService.CreateExperiment",
    ),
    bad_name(
        "a datastore name with unicode is rejected", "lake\u2603", "DataService.CreateDatastore"
    ),
    Case(
        "a name of digits dashes and underscores is accepted",
        [ok("DataService.CreateDataset", create_dataset_named("0a-b_C"))],
    ),
    Case(
        "a rename to a name that breaks the rules is rejected on new_name",
        [
            dataset("churn"),
            fails(
                "ResourceService.RenameResource",
                rename_request(K_DATASET, DS_ID, "-bad"),
                "INVALID_ARGUMENT",
                field="new_name",
            ),
        ],
    ),
    Case(
        "a description of 32768 characters is accepted and one more is rejected",
        [
            ok(
                "DataService.CreateDataset",
                {"dataset": {"meta": {"name": "a", "description": "d" * 32768}}},
            ),
            fails(
                "DataService.CreateDataset",
                {"dataset": {"meta": {"name": "b", "description": "d" * 32769}}},
                "INVALID_ARGUMENT",
                field="dataset.meta.description",
            ),
        ],
    ),
    Case(
        "a label key with upper case letters is rejected",
        [
            fails(
                "DataService.CreateDataset",
                {"dataset": {"meta": {"name": "a", "labels": {"Team": "x"}}}},
                "INVALID_ARGUMENT",
            )
        ],
    ),
]

UNIQUENESS = [
    Case(
        "a second dataset whose name differs only in case already exists",
        [
            dataset("churn"),
            fails(
                "DataService.CreateDataset",
                create_dataset_named("CHURN"),
                "ALREADY_EXISTS",
                reason="NAME_TAKEN",
            ),
        ],
    ),
    Case(
        "a name is looked up case-insensitively",
        [
            dataset("Churn"),
            ok(
                "DataService.GetDataset",
                {"name": "cHURN"},
                expect={"dataset.meta.id": DS_ID, "dataset.meta.name": "Churn"},
            ),
        ],
    ),
    Case(
        "the same name may be used by objects of different kinds",
        [dataset("churn"), model("churn"), experiment("churn")],
    ),
    Case(
        "a deprecated dataset keeps its name",
        [
            dataset("churn"),
            deprecate(K_DATASET, DS_ID),
            fails(
                "DataService.CreateDataset",
                create_dataset_named("churn"),
                "ALREADY_EXISTS",
                reason="NAME_TAKEN",
            ),
        ],
    ),
]

ARCHIVE = [
    Case(
        "archiving a dataset frees its name for a new dataset",
        [
            dataset("churn"),
            archive(K_DATASET, DS_ID),
            dataset("Churn", save="again"),
            ok(
                "DataService.GetDataset",
                {"name": "churn"},
                expect={"dataset.meta.id": "$again.dataset.meta.id"},
            ),
        ],
    ),
    Case(
        "an archived dataset is not found by name",
        [
            dataset("churn"),
            archive(K_DATASET, DS_ID),
            fails(
                "DataService.GetDataset",
                {"name": "churn"},
                "NOT_FOUND",
                reason="RESOURCE_NOT_FOUND",
            ),
        ],
    ),
    Case(
        "an archived dataset is still readable by id",
        [
            dataset("churn"),
            archive(K_DATASET, DS_ID),
            ok(
                "DataService.GetDataset",
                {"id": DS_ID},
                expect={
                    "dataset.meta.status": "OBJECT_STATUS_ARCHIVED",
                    "dataset.meta.name": "churn",
                },
            ),
        ],
    ),
    Case(
        "an archived resource is not resolved by name but is resolved by id",
        [
            dataset("churn"),
            archive(K_DATASET, DS_ID),
            fails(
                "ResourceService.ResolveResource",
                {"resource": {"kind": K_DATASET, "name": "churn"}},
                "NOT_FOUND",
            ),
            ok(
                "ResourceService.ResolveResource",
                {"resource": ref(K_DATASET, DS_ID)},
                expect={"meta.id": DS_ID, "meta.status": "OBJECT_STATUS_ARCHIVED"},
            ),
        ],
    ),
    Case(
        "an archived dataset is hidden from lists unless show_archived is set",
        [
            dataset("churn"),
            dataset("other", save="other"),
            archive(K_DATASET, DS_ID),
            ok(
                "DataService.ListDatasets",
                {},
                expect={"datasets": Ids(["$other.dataset.meta.id"])},
            ),
            ok(
                "DataService.ListDatasets",
                {"show_archived": True},
                expect={"datasets": Ids([DS_ID, "$other.dataset.meta.id"])},
            ),
        ],
    ),
    Case(
        "a new version of an archived dataset is refused",
        [
            datastore(),
            dataset("churn"),
            archive(K_DATASET, DS_ID),
            fails(
                "DataService.CreateDatasetVersion",
                dataset_version(),
                "FAILED_PRECONDITION",
                reason="RESOURCE_ARCHIVED",
                field="dataset_version.dataset_id",
            ),
        ],
    ),
    Case(
        "a stage report that consumes an archived dataset version is refused",
        [
            datastore(),
            dataset("churn"),
            version(),
            experiment(),
            run(),
            model(),
            model_version(),
            archive(K_DATASET_VERSION, DSV_ID),
            fails(
                "LifecycleService.ReportStage",
                {"stage_report": training_report(inputs=[DSV_ID])},
                "FAILED_PRECONDITION",
                reason="RESOURCE_ARCHIVED",
                field="stage_report.inputs[0].resource",
            ),
        ],
    ),
    Case(
        "a run in an archived experiment is refused",
        [
            experiment(),
            archive("RESOURCE_KIND_EXPERIMENT", "$exp.experiment.meta.id"),
            fails(
                "TrackingService.CreateRun",
                {"run": {"experiment_id": "$exp.experiment.meta.id"}},
                "FAILED_PRECONDITION",
                reason="RESOURCE_ARCHIVED",
            ),
        ],
    ),
    Case(
        "a version of an archived model is refused",
        [
            model(),
            archive(K_MODEL, "$model.model.meta.id"),
            fails(
                "ModelsService.CreateModelVersion",
                {
                    "model_version": {
                        "model_id": "$model.model.meta.id",
                        "version": {"major": 1},
                        "artifact": {
                            "uri": "s3://m/1",
                            "digest": {"digests": {"sha256": "a" * 64}},
                        },
                    }
                },
                "FAILED_PRECONDITION",
                reason="RESOURCE_ARCHIVED",
            ),
        ],
    ),
    Case(
        "an archived dataset cannot be updated",
        [
            dataset("churn"),
            archive(K_DATASET, DS_ID),
            fails(
                "DataService.UpdateDataset",
                {
                    "dataset": {"meta": {"id": DS_ID, "description": "x"}},
                    "update_mask": "meta.description",
                },
                "FAILED_PRECONDITION",
                reason="RESOURCE_ARCHIVED",
            ),
        ],
    ),
    Case(
        "an archived dataset cannot be deprecated",
        [
            dataset("churn"),
            archive(K_DATASET, DS_ID),
            fails(
                "ResourceService.DeprecateResource",
                {"resource": ref(K_DATASET, DS_ID)},
                "FAILED_PRECONDITION",
            ),
        ],
    ),
    Case(
        "archiving an archived dataset is a no-op",
        [
            dataset("churn"),
            archive(K_DATASET, DS_ID),
            ok(
                "ResourceService.ArchiveResource",
                {"resource": ref(K_DATASET, DS_ID)},
                expect={"meta.status": "OBJECT_STATUS_ARCHIVED"},
            ),
        ],
    ),
    Case(
        "archiving an unknown id is not found",
        [
            fails(
                "ResourceService.ArchiveResource",
                {"resource": ref(K_DATASET, "00000000-0000-0000-0000-000000000000")},
                "NOT_FOUND",
                reason="RESOURCE_NOT_FOUND",
            )
        ],
    ),
    Case(
        "archiving by name is rejected because status changes address ids",
        [
            dataset("churn"),
            fails(
                "ResourceService.ArchiveResource",
                {"resource": {"kind": K_DATASET, "name": "churn"}},
                "INVALID_ARGUMENT",
            ),
        ],
    ),
    Case(
        "an archived dataset version of an active dataset is found by id only",
        [
            datastore(),
            dataset("churn"),
            version(),
            archive(K_DATASET_VERSION, DSV_ID),
            fails(
                "DataService.GetDatasetVersion",
                {"dataset_id": DS_ID, "version": 1},
                "NOT_FOUND",
            ),
            ok(
                "DataService.GetDatasetVersion",
                {"id": DSV_ID},
                expect={"dataset_version.meta.status": "OBJECT_STATUS_ARCHIVED"},
            ),
        ],
    ),
]

DEPRECATE = [
    Case(
        "a deprecated dataset is hidden from default lists and shown with show_deprecated",
        [
            dataset("churn"),
            dataset("other", save="other"),
            deprecate(K_DATASET, DS_ID),
            ok("DataService.ListDatasets", {}, expect={"datasets": NotIds([DS_ID])}),
            ok(
                "DataService.ListDatasets",
                {"show_deprecated": True},
                expect={"datasets": Ids([DS_ID, "$other.dataset.meta.id"])},
            ),
        ],
    ),
    Case(
        "a deprecated dataset is found by name with a RESOURCE_DEPRECATED warning",
        [
            dataset("churn"),
            deprecate(K_DATASET, DS_ID),
            ok(
                "DataService.GetDataset",
                {"name": "churn"},
                expect={
                    "dataset.meta.status": "OBJECT_STATUS_DEPRECATED",
                    "warnings": HasItem({"code": "RESOURCE_DEPRECATED", "resource.id": DS_ID}),
                },
            ),
        ],
    ),
    Case(
        "a version of a deprecated dataset is created with a warning",
        [
            datastore(),
            dataset("churn"),
            deprecate(K_DATASET, DS_ID),
            ok(
                "DataService.CreateDatasetVersion",
                dataset_version(),
                expect={
                    "dataset_version.version": 1,
                    "warnings": HasItem({"code": "RESOURCE_DEPRECATED", "resource.id": DS_ID}),
                },
            ),
        ],
    ),
    Case(
        "a stage report that consumes a deprecated dataset version succeeds with a warning",
        [
            datastore(),
            dataset("churn"),
            version(),
            experiment(),
            run(),
            model(),
            model_version(),
            deprecate(K_DATASET_VERSION, DSV_ID),
            ok(
                "LifecycleService.ReportStage",
                {"stage_report": training_report(inputs=[DSV_ID])},
                expect={
                    "stage_report.meta.id": Present(),
                    "warnings": HasItem({"code": "RESOURCE_DEPRECATED", "resource.id": DSV_ID}),
                },
            ),
        ],
    ),
    Case(
        "an active dataset is used without warnings",
        [
            datastore(),
            dataset("churn"),
            ok(
                "DataService.CreateDatasetVersion", dataset_version(), expect={"warnings": Absent()}
            ),
        ],
    ),
    Case(
        "a reactivated deprecated dataset is listed again",
        [
            dataset("churn"),
            deprecate(K_DATASET, DS_ID),
            reactivate(K_DATASET, DS_ID),
            ok("DataService.ListDatasets", {}, expect={"datasets": Ids([DS_ID])}),
        ],
    ),
]

RENAME = [
    Case(
        "a rename changes the name the dataset is found by",
        [
            dataset("churn"),
            ok(
                "ResourceService.RenameResource",
                rename_request(K_DATASET, DS_ID, "churn-2024"),
                expect={"meta.name": "churn-2024", "meta.id": DS_ID},
            ),
            ok("DataService.GetDataset", {"name": "churn-2024"}, expect={"dataset.meta.id": DS_ID}),
            fails("DataService.GetDataset", {"name": "churn"}, "NOT_FOUND"),
        ],
    ),
    Case(
        "a rename onto another dataset's name in another case already exists",
        [
            dataset("churn"),
            dataset("fraud", save="other"),
            fails(
                "ResourceService.RenameResource",
                rename_request(K_DATASET, DS_ID, "FRAUD"),
                "ALREADY_EXISTS",
                reason="NAME_TAKEN",
            ),
        ],
    ),
    Case(
        "a rename that only changes the case of its own name is accepted",
        [
            dataset("churn"),
            ok(
                "ResourceService.RenameResource",
                rename_request(K_DATASET, DS_ID, "Churn"),
                expect={"meta.name": "Churn"},
            ),
        ],
    ),
    Case(
        "a rename onto an archived dataset's name is accepted",
        [
            dataset("churn"),
            dataset("fraud", save="other"),
            archive(K_DATASET, "$other.dataset.meta.id"),
            ok(
                "ResourceService.RenameResource",
                rename_request(K_DATASET, DS_ID, "fraud"),
                expect={"meta.name": "fraud"},
            ),
        ],
    ),
    Case(
        "an archived dataset cannot be renamed",
        [
            dataset("churn"),
            archive(K_DATASET, DS_ID),
            fails(
                "ResourceService.RenameResource",
                rename_request(K_DATASET, DS_ID, "churn-old"),
                "FAILED_PRECONDITION",
                reason="RESOURCE_ARCHIVED",
            ),
        ],
    ),
    Case(
        "a rename with a stale etag is aborted",
        [
            dataset("churn"),
            ok(
                "DataService.UpdateDataset",
                {
                    "dataset": {"meta": {"id": DS_ID, "description": "x"}},
                    "update_mask": "meta.description",
                },
            ),
            fails(
                "ResourceService.RenameResource",
                rename_request(K_DATASET, DS_ID, "churn-2", etag="$ds.dataset.meta.etag"),
                "ABORTED",
                reason="ETAG_MISMATCH",
            ),
        ],
    ),
    Case(
        "a rename of an unknown id is not found",
        [
            fails(
                "ResourceService.RenameResource",
                rename_request(K_DATASET, "no-such-id", "x"),
                "NOT_FOUND",
            )
        ],
    ),
    Case(
        "a name change through UpdateDataset is refused in favour of RenameResource",
        [
            dataset("churn"),
            fails(
                "DataService.UpdateDataset",
                {"dataset": {"meta": {"id": DS_ID, "name": "other"}}, "update_mask": "meta.name"},
                "INVALID_ARGUMENT",
                field="dataset.meta.name",
            ),
        ],
    ),
]

REACTIVATE = [
    Case(
        "reactivating an archived dataset whose name was taken already exists",
        [
            dataset("churn"),
            archive(K_DATASET, DS_ID),
            dataset("CHURN", save="again"),
            fails(
                "ResourceService.ReactivateResource",
                {"resource": ref(K_DATASET, DS_ID)},
                "ALREADY_EXISTS",
                reason="NAME_TAKEN",
            ),
            ok(
                "DataService.GetDataset",
                {"id": DS_ID},
                expect={"dataset.meta.status": "OBJECT_STATUS_ARCHIVED"},
            ),
        ],
    ),
    Case(
        "reactivating an archived dataset whose name is free makes it findable by name",
        [
            dataset("churn"),
            archive(K_DATASET, DS_ID),
            ok(
                "ResourceService.ReactivateResource",
                {"resource": ref(K_DATASET, DS_ID)},
                expect={"meta.status": "OBJECT_STATUS_ACTIVE"},
            ),
            ok("DataService.GetDataset", {"name": "churn"}, expect={"dataset.meta.id": DS_ID}),
        ],
    ),
]

UPDATE_DS = {
    "dataset": {"meta": {"id": DS_ID, "description": "new"}},
    "update_mask": "meta.description",
}

IMMUTABLE = [
    Case(
        "changing a dataset version's definition is refused on the definition field",
        [
            datastore(),
            dataset("churn"),
            version(),
            fails(
                "DataService.UpdateDatasetVersion",
                {
                    "dataset_version": {
                        "meta": {"id": DSV_ID},
                        "dataset_id": DS_ID,
                        "definition": dataset_version(path="other/")["dataset_version"][
                            "definition"
                        ],
                    },
                    "update_mask": "definition",
                },
                "INVALID_ARGUMENT",
                field="dataset_version.definition",
            ),
        ],
    ),
    Case(
        "a full replacement of a dataset version with another definition is refused",
        [
            datastore(),
            dataset("churn"),
            version(),
            fails(
                "DataService.UpdateDatasetVersion",
                {
                    "dataset_version": {
                        "meta": {"id": DSV_ID},
                        "dataset_id": DS_ID,
                        "definition": dataset_version(path="other/")["dataset_version"][
                            "definition"
                        ],
                    },
                },
                "INVALID_ARGUMENT",
                field="dataset_version.definition",
            ),
        ],
    ),
    Case(
        "a dataset version's description can change",
        [
            datastore(),
            dataset("churn"),
            version(),
            ok(
                "DataService.UpdateDatasetVersion",
                {
                    "dataset_version": {"meta": {"id": DSV_ID, "description": "cleaned"}},
                    "update_mask": "meta.description",
                },
                expect={
                    "dataset_version.meta.description": "cleaned",
                    "dataset_version.definition": "$dsv.dataset_version.definition",
                },
            ),
        ],
    ),
    Case(
        "a second version with the latest version's definition already exists",
        [
            datastore(),
            dataset("churn"),
            version(),
            fails(
                "DataService.CreateDatasetVersion", dataset_version(path="p/1/"), "ALREADY_EXISTS"
            ),
            ok(
                "DataService.CreateDatasetVersion",
                dataset_version(path="p/2/"),
                expect={"dataset_version.version": 2},
            ),
        ],
    ),
    Case(
        "changing a module version's snapshot is refused on the snapshot field",
        [
            module(),
            module_version(),
            fails(
                "PipelinesService.UpdateModuleVersion",
                {
                    "module_version": {
                        "meta": {"id": "$modv.module_version.meta.id"},
                        "snapshot": {
                            "git": {
                                "repository_uri": "https://git.example/t",
                                "commit_sha": "b" * 40,
                            }
                        },
                    },
                    "update_mask": "snapshot",
                },
                "INVALID_ARGUMENT",
                field="module_version.snapshot",
            ),
        ],
    ),
    Case(
        "changing a run's experiment is refused on the experiment_id field",
        [
            experiment(),
            experiment("exp2", save="exp2"),
            run(),
            fails(
                "TrackingService.UpdateRun",
                {
                    "run": {
                        "meta": {"id": "$run.run.meta.id"},
                        "experiment_id": "$exp2.experiment.meta.id",
                    },
                    "update_mask": "experimentId",
                },
                "INVALID_ARGUMENT",
                field="run.experiment_id",
            ),
        ],
    ),
    Case(
        "changing a model version's artifact is refused on the artifact field",
        [
            model(),
            model_version(),
            fails(
                "ModelsService.UpdateModelVersion",
                {
                    "model_version": {
                        "meta": {"id": "$mv.model_version.meta.id"},
                        "artifact": {"uri": "s3://m/other"},
                    },
                    "update_mask": "artifact",
                },
                "INVALID_ARGUMENT",
                field="model_version.artifact",
            ),
        ],
    ),
    Case(
        "changing a datastore's type is refused on the type field",
        [
            datastore(),
            fails(
                "DataService.UpdateDatastore",
                {
                    "datastore": {
                        "meta": {"id": "$store.datastore.meta.id"},
                        "type": "DATASTORE_TYPE_GCS",
                    },
                    "update_mask": "type",
                },
                "INVALID_ARGUMENT",
                field="datastore.type",
            ),
        ],
    ),
    Case(
        "an update mask naming the output-only create time is refused and changes nothing",
        [
            dataset("churn"),
            fails(
                "DataService.UpdateDataset",
                {
                    "dataset": {"meta": {"id": DS_ID, "create_time": "2001-01-01T00:00:00Z"}},
                    "update_mask": "meta.createTime",
                },
                "INVALID_ARGUMENT",
            ),
            ok(
                "DataService.GetDataset",
                {"id": DS_ID},
                expect={"dataset.meta.create_time": "$ds.dataset.meta.create_time"},
            ),
        ],
    ),
    Case(
        "an update mask naming the output-only latest_version is refused",
        [
            dataset("churn"),
            fails(
                "DataService.UpdateDataset",
                {
                    "dataset": {"meta": {"id": DS_ID}, "latest_version": 7},
                    "update_mask": "latestVersion",
                },
                "INVALID_ARGUMENT",
            ),
        ],
    ),
]

UPDATE_MASK = [
    Case(
        "an update with a mask changes only the named field",
        [
            dataset("churn", labels={"team": "risk"}, domain="finance"),
            ok(
                "DataService.UpdateDataset",
                {
                    "dataset": {"meta": {"id": DS_ID, "description": "new"}, "domain": "other"},
                    "update_mask": "meta.description",
                },
                expect={
                    "dataset.meta.description": "new",
                    "dataset.meta.labels": {"team": "risk"},
                    "dataset.domain": "finance",
                    "dataset.meta.create_time": "$ds.dataset.meta.create_time",
                    "dataset.meta.etag": Differs("$ds.dataset.meta.etag"),
                },
            ),
        ],
    ),
    Case(
        "an update of the labels replaces the whole label map",
        [
            dataset("churn", labels={"team": "risk", "tier": "gold"}),
            ok(
                "DataService.UpdateDataset",
                {
                    "dataset": {"meta": {"id": DS_ID, "labels": {"team": "ops"}}},
                    "update_mask": "meta.labels",
                },
                expect={"dataset.meta.labels": {"team": "ops"}},
            ),
        ],
    ),
    Case(
        "an update mask naming an unknown field is rejected on update_mask",
        [
            dataset("churn"),
            fails(
                "DataService.UpdateDataset",
                {"dataset": {"meta": {"id": DS_ID}}, "update_mask": "colour"},
                "INVALID_ARGUMENT",
                field="update_mask",
            ),
        ],
    ),
    Case(
        "an update of an unknown id is not found",
        [
            fails(
                "DataService.UpdateDataset",
                {"dataset": {"meta": {"id": "nope"}}, "update_mask": "meta.description"},
                "NOT_FOUND",
            )
        ],
    ),
    Case(
        "an update without meta.id is rejected",
        [
            fails(
                "DataService.UpdateDataset",
                {"dataset": {"meta": {"description": "x"}}, "update_mask": "meta.description"},
                "INVALID_ARGUMENT",
                field="dataset.meta.id",
            )
        ],
    ),
]

ETAG = [
    Case(
        "an update with the current etag succeeds and a stale etag is aborted",
        [
            dataset("churn"),
            ok(
                "DataService.UpdateDataset",
                {
                    "dataset": {
                        "meta": {"id": DS_ID, "etag": "$ds.dataset.meta.etag", "description": "1"}
                    },
                    "update_mask": "meta.description",
                },
                save="u1",
            ),
            fails(
                "DataService.UpdateDataset",
                {
                    "dataset": {
                        "meta": {"id": DS_ID, "etag": "$ds.dataset.meta.etag", "description": "2"}
                    },
                    "update_mask": "meta.description",
                },
                "ABORTED",
                reason="ETAG_MISMATCH",
            ),
            ok("DataService.GetDataset", {"id": DS_ID}, expect={"dataset.meta.description": "1"}),
        ],
    ),
    Case(
        "an archive with a stale etag is aborted",
        [
            dataset("churn"),
            ok("DataService.UpdateDataset", UPDATE_DS),
            fails(
                "ResourceService.ArchiveResource",
                {"resource": ref(K_DATASET, DS_ID), "etag": "$ds.dataset.meta.etag"},
                "ABORTED",
                reason="ETAG_MISMATCH",
            ),
        ],
    ),
    Case(
        "every write returns a new etag",
        [
            dataset("churn"),
            ok(
                "ResourceService.DeprecateResource",
                {"resource": ref(K_DATASET, DS_ID)},
                expect={"meta.etag": Differs("$ds.dataset.meta.etag")},
            ),
        ],
    ),
]

IDEMPOTENCY = [
    Case(
        "a create retried with the same request_id returns the first result and no duplicate",
        [
            ok(
                "DataService.CreateDataset",
                {"dataset": {"meta": {"name": "churn"}}, "request_id": "r-1"},
                save="first",
            ),
            ok(
                "DataService.CreateDataset",
                {"dataset": {"meta": {"name": "churn"}}, "request_id": "r-1"},
                expect={"dataset": "$first.dataset"},
            ),
            ok("DataService.ListDatasets", {}, expect={"datasets": Len(1)}),
        ],
    ),
    Case(
        "a request_id reused for a different request is rejected",
        [
            ok(
                "DataService.CreateDataset",
                {"dataset": {"meta": {"name": "churn"}}, "request_id": "r-1"},
            ),
            fails(
                "DataService.CreateDataset",
                {"dataset": {"meta": {"name": "fraud"}}, "request_id": "r-1"},
                "INVALID_ARGUMENT",
                reason="REQUEST_ID_REUSED",
                field="request_id",
            ),
            ok("DataService.ListDatasets", {}, expect={"datasets": Len(1)}),
        ],
    ),
    Case(
        "a stage report retried with the same request_id is stored once",
        [
            experiment(),
            run(),
            model(),
            model_version(),
            ok(
                "LifecycleService.ReportStage",
                {"stage_report": training_report(), "request_id": "rep-1"},
                save="first",
            ),
            ok(
                "LifecycleService.ReportStage",
                {"stage_report": training_report(), "request_id": "rep-1"},
                expect={"stage_report": "$first.stage_report"},
            ),
            ok(
                "LifecycleService.ListStageReports",
                {"run_id": "$run.run.meta.id"},
                expect={"stage_reports": Len(1)},
            ),
        ],
    ),
    Case(
        "an update retried with the same request_id returns the first result",
        [
            dataset("churn"),
            ok("DataService.UpdateDataset", {**UPDATE_DS, "request_id": "u-1"}, save="first"),
            ok(
                "DataService.UpdateDataset",
                {**UPDATE_DS, "request_id": "u-1"},
                expect={"dataset": "$first.dataset"},
            ),
        ],
    ),
    Case(
        "a rename retried with the same request_id returns the first result",
        [
            dataset("churn"),
            ok(
                "ResourceService.RenameResource",
                rename_request(K_DATASET, DS_ID, "fraud", request_id="n-1"),
                save="first",
            ),
            ok(
                "ResourceService.RenameResource",
                rename_request(K_DATASET, DS_ID, "fraud", request_id="n-1"),
                expect={"meta": "$first.meta"},
            ),
        ],
    ),
    Case(
        "a retried create whose name was taken in between still returns the first result",
        [
            ok(
                "DataService.CreateDataset",
                {"dataset": {"meta": {"name": "churn"}}, "request_id": "r-1"},
                save="first",
            ),
            archive(K_DATASET, "$first.dataset.meta.id"),
            dataset("churn", save="second"),
            ok(
                "DataService.CreateDataset",
                {"dataset": {"meta": {"name": "churn"}}, "request_id": "r-1"},
                expect={"dataset.meta.id": "$first.dataset.meta.id"},
            ),
        ],
    ),
]

CASES = NAMES + UNIQUENESS + ARCHIVE + DEPRECATE + RENAME + REACTIVATE + IMMUTABLE
CASES += UPDATE_MASK + ETAG + IDEMPOTENCY


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rule(client: Client, case: Case) -> None:
    run_case(client, case)


def test_no_service_offers_a_hard_delete() -> None:
    for service in SERVICES.values():
        deleting = [m for m in service.methods_by_name if m.startswith(("Delete", "Purge"))]
        assert not deleting, f"{service.full_name} has {deleting}: there is no hard delete"


@pytest.mark.parametrize(
    "path",
    [
        "/mlspec.data.v1.DataService/DeleteDataset",
        "/mlspec.common.v1.ResourceService/DeleteResource",
    ],
)
def test_a_delete_call_is_unimplemented(client: Client, path: str) -> None:
    call = client.channel.unary_unary(
        path, request_serializer=lambda b: b, response_deserializer=lambda b: b
    )
    with pytest.raises(grpc.RpcError) as err:
        call(b"", metadata=client.metadata, timeout=10)
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_a_report_is_stored_once_under_concurrent_retries(client: Client) -> None:
    """Two concurrent calls with one request_id create one report (issue 3 item 7)."""
    from concurrent.futures import ThreadPoolExecutor

    saved = run_case(client, Case("setup", [experiment(), run(), model(), model_version()]))
    body = {
        "stage_report": training_report(
            run_id=saved["run"]["run"]["meta"]["id"],
            output_model=saved["mv"]["model_version"]["meta"]["id"],
        ),
        "request_id": "race-1",
    }
    request = client.request("LifecycleService.ReportStage", body)
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(
            pool.map(lambda _: client.invoke("LifecycleService.ReportStage", request), range(4))
        )
    assert all(o.code == grpc.StatusCode.OK for o in outcomes), [
        (o.code, o.message) for o in outcomes
    ]
    assert len({o.as_dict()["stage_report"]["meta"]["id"] for o in outcomes}) == 1
    listed = client.ok(
        "LifecycleService.ListStageReports", {"run_id": saved["run"]["run"]["meta"]["id"]}
    )
    assert len(listed.get("stage_reports", [])) == 1
