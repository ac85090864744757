"""Builds a small but real MLflow tracking store, as MLflow users fill one.

``python mlflow_store.py TRACKING_URI ARTIFACT_ROOT EXPECTED_JSON`` logs experiments,
nested runs with params, tags, metric histories and artifact files, a failed run, and a
registered model with two versions and aliases; then writes what it logged (the counts
the import must reproduce) to EXPECTED_JSON. It uses only mlflow, never mlspec.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric


def main(uri: str, artifact_root: Path, expected_path: Path) -> None:
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient()
    churn = client.create_experiment(
        "churn-models", artifact_location=(artifact_root / "churn").as_uri(), tags={"team": "risk"}
    )
    daily = client.create_experiment(
        "Forecasting.Daily v2", artifact_location=(artifact_root / "daily").as_uri()
    )
    points: dict[str, int] = {}
    run_names: dict[str, str] = {}
    mlflow.set_experiment(experiment_id=churn)
    with mlflow.start_run(run_name="sweep") as parent:
        children = []
        for lr in (0.1, 0.01):
            with mlflow.start_run(run_name=f"logreg-lr-{lr}", nested=True) as child:
                mlflow.log_params({"lr": lr, "penalty": "l2"})
                mlflow.set_tags({"model_type": "logreg"})
                base = int(time.time() * 1000)
                history = [
                    Metric("loss", 1.0 / (step + 1), base + step, step) for step in range(400)
                ]
                client.log_batch(child.info.run_id, metrics=history)
                mlflow.log_metric("accuracy", 0.8 + lr, step=0)
                mlflow.log_metric("accuracy", 0.82 + lr, step=1)
                mlflow.log_text("logistic regression", "notes/readme.txt")
                mlflow.log_dict({"lr": lr}, "config.json")
                points[child.info.run_id] = 402
                run_names[child.info.run_id] = f"logreg-lr-{lr}"
                children.append(child.info.run_id)
        mlflow.log_metric("best_accuracy", 0.91)
        points[parent.info.run_id] = 1
        run_names[parent.info.run_id] = "sweep"
    broken = client.create_run(daily, run_name="broken run")
    client.log_metric(broken.info.run_id, "mape", 0.3, step=0)
    client.set_terminated(broken.info.run_id, "FAILED")
    points[broken.info.run_id] = 1
    run_names[broken.info.run_id] = "broken run"
    client.create_registered_model("churn-classifier", description="Predicts churn.")
    for child in children:
        client.create_model_version("churn-classifier", source=f"runs:/{child}/model", run_id=child)
    client.set_registered_model_alias("churn-classifier", "champion", "2")
    client.set_registered_model_alias("churn-classifier", "challenger", "1")
    expected = {
        "experiments": {"churn-models": churn, "Forecasting.Daily v2": daily},
        "runs": run_names,
        "points": points,
        "parent": {child: parent.info.run_id for child in children},
        "artifacts": {child: ["config.json", "notes/readme.txt"] for child in children},
        "versions": {"1": children[0], "2": children[1]},
        "aliases": {"champion": "2", "challenger": "1"},
    }
    expected_path.write_text(json.dumps(expected, indent=2))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))
