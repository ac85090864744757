"""Steps that build the objects most cases need, in their proto3-JSON request shape."""

from __future__ import annotations

from typing import Any

from .engine import Step, ok

K_DATASTORE = "RESOURCE_KIND_DATASTORE"
K_ARTIFACT = "RESOURCE_KIND_ARTIFACT"
K_DATASET = "RESOURCE_KIND_DATASET"
K_DATASET_VERSION = "RESOURCE_KIND_DATASET_VERSION"
K_MODULE = "RESOURCE_KIND_MODULE"
K_MODULE_VERSION = "RESOURCE_KIND_MODULE_VERSION"
K_PIPELINE = "RESOURCE_KIND_PIPELINE"
K_EXPERIMENT = "RESOURCE_KIND_EXPERIMENT"
K_RUN = "RESOURCE_KIND_RUN"
K_MODEL = "RESOURCE_KIND_MODEL"
K_MODEL_VERSION = "RESOURCE_KIND_MODEL_VERSION"
K_STAGE_REPORT = "RESOURCE_KIND_STAGE_REPORT"

MV_ID = "$mv.model_version.meta.id"
T0 = "2023-11-14T22:13:20Z"
T1 = "2023-11-14T23:13:20Z"


def ref(kind: str, resource_id: str) -> dict[str, Any]:
    """A ResourceRef by id."""
    return {"kind": kind, "id": resource_id}


def datastore(name: str = "lake", save: str = "store") -> Step:
    """Registers an S3 datastore."""
    return ok(
        "DataService.CreateDatastore",
        {"datastore": {"meta": {"name": name}, "type": "DATASTORE_TYPE_S3"}},
        save=save,
    )


def dataset(
    name: str = "churn", save: str = "ds", labels: dict[str, str] | None = None, **extra: Any
) -> Step:
    """Creates a dataset."""
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = labels
    return ok("DataService.CreateDataset", {"dataset": {"meta": meta, **extra}}, save=save)


def definition(path: str, store: str = "lake") -> dict[str, Any]:
    """A DatasetDefinition pointing at a path in a datastore (by name)."""
    return {
        "data_path": {
            "datastore": {"kind": K_DATASTORE, "name": store},
            "path": {"relative_path": path},
        }
    }


def dataset_version(
    dataset_id: str = "$ds.dataset.meta.id", path: str = "churn/v1/"
) -> dict[str, Any]:
    """The request of CreateDatasetVersion."""
    return {"dataset_version": {"dataset_id": dataset_id, "definition": definition(path)}}


def version(save: str = "dsv", dataset_id: str = "$ds.dataset.meta.id", path: str = "p/1/") -> Step:
    """Creates a dataset version."""
    return ok("DataService.CreateDatasetVersion", dataset_version(dataset_id, path), save=save)


def experiment(name: str = "exp", save: str = "exp") -> Step:
    """Creates an experiment."""
    return ok(
        "TrackingService.CreateExperiment", {"experiment": {"meta": {"name": name}}}, save=save
    )


def run(save: str = "run", experiment_id: str = "$exp.experiment.meta.id") -> Step:
    """Creates a tracking run."""
    return ok("TrackingService.CreateRun", {"run": {"experiment_id": experiment_id}}, save=save)


def set_run_state(state: str, run_id: str = "$run.run.meta.id") -> dict[str, Any]:
    """The request of UpdateRunState that moves a run to ``state`` (FAILED needs an error)."""
    request: dict[str, Any] = {"run_id": run_id, "state": state}
    if state == "RUN_STATE_FAILED":
        request["error"] = {"type": "OutOfMemoryError", "message": "the trainer ran out of memory"}
    return request


def model(name: str = "churn-model", save: str = "model") -> Step:
    """Creates a model."""
    return ok("ModelsService.CreateModel", {"model": {"meta": {"name": name}}}, save=save)


def model_version(save: str = "mv", major: int = 1) -> Step:
    """Creates a version of the model saved as ``model``."""
    return ok(
        "ModelsService.CreateModelVersion",
        {
            "model_version": {
                "model_id": "$model.model.meta.id",
                "version": {"major": major},
                "artifact": {
                    "uri": f"s3://models/churn/{major}",
                    "digest": {"digests": {"sha256": "a" * 64}},
                },
            }
        },
        save=save,
    )


def module(name: str = "trainer", save: str = "mod") -> Step:
    """Creates a primitive module."""
    return ok(
        "PipelinesService.CreateModule",
        {"module": {"meta": {"name": name}, "kind": "MODULE_KIND_PRIMITIVE"}},
        save=save,
    )


def snapshot(commit: str) -> dict[str, Any]:
    """A git snapshot with its digest."""
    return {
        "git": {"repository_uri": "https://git.example/t", "commit_sha": commit},
        "digest": {"digests": {"sha256": commit[:1] * 64}},
    }


def module_version(save: str = "modv", commit: str = "a" * 40) -> Step:
    """Creates a version of the module saved as ``mod`` from a git snapshot."""
    return ok(
        "PipelinesService.CreateModuleVersion",
        {
            "module_version": {
                "module_id": "$mod.module.meta.id",
                "snapshot": snapshot(commit),
                "interface": {"inputs": [], "outputs": []},
                "executor": {"command": ["python", "-m", "train"]},
            }
        },
        save=save,
    )


def training_report(
    inputs: list[str] | None = None,
    outputs: list[str] | None = None,
    run_id: str = "$run.run.meta.id",
    output_model: str = MV_ID,
    **extra: Any,
) -> dict[str, Any]:
    """A MODEL_TRAINING StageReport consuming dataset versions and producing model versions.

    Its payload's Required `output_model` is the first output, or the model version saved
    as ``mv`` (``trained()`` creates one).
    """
    report: dict[str, Any] = {
        "stage": "LIFECYCLE_STAGE_MODEL_TRAINING",
        "run_id": run_id,
        "start_time": T0,
        "status": "STAGE_REPORT_STATUS_SUCCEEDED",
        "inputs": [
            {"resource": ref(K_DATASET_VERSION, i), "role": "training"} for i in inputs or []
        ],
        "outputs": [{"resource": ref(K_MODEL_VERSION, o)} for o in outputs or []],
        "model_training": {
            "model_format": "onnx",
            "output_model": ref(K_MODEL_VERSION, (outputs or [output_model])[0]),
        },
    }
    report.update(extra)
    return report


def report(save: str = "rep", **kwargs: Any) -> Step:
    """Reports a training stage (see ``training_report``)."""
    return ok(
        "LifecycleService.ReportStage", {"stage_report": training_report(**kwargs)}, save=save
    )


def archive(kind: str, resource_id: str, **extra: Any) -> Step:
    """Archives a resource by id."""
    return ok("ResourceService.ArchiveResource", {"resource": ref(kind, resource_id), **extra})


def deprecate(kind: str, resource_id: str) -> Step:
    """Deprecates a resource by id."""
    return ok("ResourceService.DeprecateResource", {"resource": ref(kind, resource_id)})


def reactivate(kind: str, resource_id: str) -> Step:
    """Reactivates a resource by id."""
    return ok("ResourceService.ReactivateResource", {"resource": ref(kind, resource_id)})


def rename_request(kind: str, resource_id: str, new_name: str, **extra: Any) -> dict[str, Any]:
    """The request of RenameResource."""
    return {"resource": ref(kind, resource_id), "new_name": new_name, **extra}
