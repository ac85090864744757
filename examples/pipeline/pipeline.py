"""A breast-cancer classifier taken through all thirteen lifecycle stages, reported with the SDK.

The machine learning is real and small: scikit-learn's breast cancer data set (569
tumours, 30 measurements, shipped with scikit-learn), outlier removal, a log transform and
an encoded slice feature, a stratified split into train / validation / hold-back / debug,
a grid search over a scaled logistic regression, evaluation per tumour-size slice, the
single hold-back test, a signed package, an in-process scorer, drift and performance
signals from a few hundred scored requests, and their inference log.

Every stage is reported through ``mlspec.client``; the code between the ``# --- stage``
markers of ``run_pipeline`` is what ``tools/count_mlspec_lines.py`` counts. The pipeline
gets or creates everything by name and content, so it can run again against the same
store. ``demo.py`` beside this file starts a server and runs it (``make demo``).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import pathlib
import time
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import joblib
import numpy as np
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlspec import yaml_format
from mlspec.client import Client, Stage, build, endpoints, file_digest, payloads
from mlspec.client.drift import distance
from mlspec.client.signing import sign_model, verify_model
from mlspec.client.statistics import outlier_rows
from mlspec.lifecycle.v1.objectives_pb2 import CodifiedObjectives
from mlspec.logging.v1 import inference_log_pb2, logging_service_pb2
from mlspec.models.v1.model_version_pb2 import ModelVersion
from mlspec.monitoring.v1 import inference_pb2, monitoring_service_pb2, signals_pb2
from mlspec.tracking.v1.run_pb2 import Run

HERE = pathlib.Path(__file__).resolve().parent
OBJECTIVES = HERE / "objectives.yaml"
SEED = 7
DATA = "breast-cancer"
REQUESTS = 300
MODEL = "breast-cancer-classifier"
SCORER = "breast-cancer-scorer"
APP = "pathology-review"
LABEL = "malignant"
SIZE = "size_group"
LOGGED = ("mean_area", "worst_area", "area_error")  # right-skewed: log1p
SPLITS = {"train": 0.6, "validation": 0.2, "holdback": 0.15, "debug": 0.05}
GRID = {
    "logisticregression__C": [0.01, 0.1, 1.0, 10.0],
    "logisticregression__class_weight": [None, "balanced"],
}
Columns = dict[str, Any]


# -- machine learning (no MLSpec below this line until run_pipeline) ------------------


def load_table() -> Columns:
    """The data set as columns: an id, the 30 measurements, a size slice and the label."""
    data = load_breast_cancer()
    names = [str(n).replace(" ", "_") for n in data.feature_names]
    table: Columns = {"patient_id": np.arange(len(data.target))}
    table.update(zip(names, data.data.T, strict=True))
    table[SIZE] = np.where(table["mean_area"] >= 700.0, "large", "small").astype(object)
    table[LABEL] = (1 - data.target).astype(np.int64)  # scikit-learn codes malignant as 0
    return table


def rows(table: Columns, mask: Any) -> Columns:
    """The rows of a table where ``mask`` (booleans or indices) selects them."""
    return {name: values[mask] for name, values in table.items()}


def write_csv(path: pathlib.Path, table: Columns) -> pathlib.Path:
    """Writes a table as CSV (the same bytes for the same table) and returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(table)
        for row in zip(*table.values(), strict=True):
            writer.writerow([repr(float(v)) if isinstance(v, float) else v for v in row])
    return path


def write_shards(folder: pathlib.Path, table: Columns, shards: int = 2) -> list[pathlib.Path]:
    """Writes a table as ``shards`` CSV files in a folder (the ingested raw data)."""
    parts = np.array_split(np.arange(len(table[LABEL])), shards)
    return [write_csv(folder / f"part-{i}.csv", rows(table, p)) for i, p in enumerate(parts)]


def transform(table: Columns) -> tuple[Columns, Any, dict[str, int]]:
    """Drops extreme outliers, log-transforms skewed areas, encodes the size slice."""
    extreme = outlier_rows(features(table), k=5.0)
    clean = rows(table, ~extreme)
    for name in LOGGED:
        clean[f"log_{name}"] = np.log1p(clean.pop(name))
    vocabulary = {value: i for i, value in enumerate(sorted(set(clean[SIZE])))}
    clean["size_group_id"] = np.array([vocabulary[v] for v in clean[SIZE]], dtype=np.int64)
    clean[LABEL] = clean.pop(LABEL)  # the label stays the last column
    return clean, extreme, vocabulary


def features(table: Columns) -> Columns:
    """The model's inputs: every column but the id, the slice text and the label."""
    return {k: v for k, v in table.items() if k not in ("patient_id", SIZE, LABEL)}


def matrix(table: Columns) -> Any:
    """The model's input matrix of a table."""
    return np.column_stack(list(features(table).values()))


def split(table: Columns) -> dict[str, Columns]:
    """A stratified split by label into the shares of ``SPLITS``."""
    index = np.arange(len(table[LABEL]))
    out: dict[str, Columns] = {}
    left, share = index, 1.0
    for name, ratio in list(SPLITS.items())[:-1]:
        taken, left = train_test_split(
            left, train_size=ratio / share, stratify=table[LABEL][left], random_state=SEED
        )
        out[name], share = rows(table, np.sort(taken)), share - ratio
    out[list(SPLITS)[-1]] = rows(table, np.sort(left))
    return out


def train(table: Columns) -> GridSearchCV:
    """A grid search over the regularization of a scaled logistic regression."""
    estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    search = GridSearchCV(estimator, GRID, cv=3, scoring=["roc_auc", "recall"], refit="roc_auc")
    return search.fit(matrix(table), table[LABEL])


def save_model(model: Any, folder: pathlib.Path, table: Columns) -> pathlib.Path:
    """The model folder: the fitted pipeline and the names of its inputs."""
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, folder / "model.joblib")
    (folder / "inputs.json").write_text(json.dumps(list(features(table)), indent=1) + "\n")
    return folder


def scores(labels: Any, probability: Any) -> dict[str, float]:
    """The metrics the objectives name, from labels and predicted probabilities."""
    flags = probability >= 0.5
    tn, fp, fn, tp = confusion_matrix(labels, flags, labels=[0, 1]).ravel()
    out = {
        "recall": float(recall_score(labels, flags, zero_division=0.0)),
        "precision": float(precision_score(labels, flags, zero_division=0.0)),
        "accuracy": float(accuracy_score(labels, flags)),
        "false_negative_rate": float(fn / (fn + tp)) if fn + tp else 0.0,
        "false_positive_rate": float(fp / (fp + tn)) if fp + tn else 0.0,
    }
    if len(set(labels.tolist())) == 2:  # the AUC needs both classes
        out["auc"] = float(roc_auc_score(labels, probability))
    return out


def measure(model: Any, table: Columns) -> Any:
    """The metrics of a model on a set of rows of ``table``, given as a boolean mask."""
    probability = model.predict_proba(matrix(table))[:, 1]
    return lambda rows: scores(table[LABEL][rows], probability[rows])


def sample(table: Columns, count: int) -> Columns:
    """``count`` rows drawn at random (seeded) from a table."""
    return rows(table, np.random.default_rng(SEED).choice(len(table[LABEL]), count, replace=False))


def signing_key(folder: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """A P-256 key pair for signing the model package (made once, kept in ``folder``)."""
    private, public = folder / "signing-key.pem", folder / "signing-key.pub"
    if not private.exists():
        folder.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        private.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        public.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    return private, public


class Scorer:
    """The served model: loads the package and scores one request at a time."""

    def __init__(self, folder: pathlib.Path) -> None:
        self.model = joblib.load(folder / "model.joblib")
        self.inputs = json.loads((folder / "inputs.json").read_text())

    def score(self, request: Mapping[str, float]) -> tuple[float, float]:
        """(probability of malignancy, seconds taken) for one request's features."""
        start = time.perf_counter()
        row = np.array([[request[name] for name in self.inputs]])
        probability = float(self.model.predict_proba(row)[0, 1])
        return probability, time.perf_counter() - start


def traffic(table: Columns, count: int) -> Iterator[tuple[str, dict[str, float], int]]:
    """Requests as serving sees them: rows drawn from the data, with texture drifted up.

    Yields (request id, input features, true label); the label arrives later as feedback.
    """
    rng = np.random.default_rng()
    inputs = features(table)
    for row in rng.integers(0, len(table[LABEL]), size=count):
        request = {name: float(values[row]) for name, values in inputs.items()}
        request["mean_texture"] *= 1.25  # a new scanner reads textures brighter
        yield str(uuid.uuid4()), request, int(table[LABEL][row])


def now() -> dt.datetime:
    """The time now, in UTC."""
    return dt.datetime.now(dt.timezone.utc)


def http_status(url: str) -> int:
    """The HTTP status a GET of a local URL answers (0 when it does not answer)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback only)
            return int(response.status)
    except OSError:
        return 0


# -- the pipeline, reported stage by stage -----------------------------------------------


# --- setup
def run_pipeline(client: Client, work: pathlib.Path, key: pathlib.Path) -> tuple[ModelVersion, Run]:
    """Runs the thirteen stages in ``work``, reporting each; returns the model version and run."""
    table = load_table()
    size = len(table[LABEL])
    clean, extreme, vocabulary = transform(table)
    parts = split(clean)
    with client.start_run(experiment=DATA) as run:
        code = run.artifact(__file__, type="CODE")
        # --- stage 1: codify objectives
        goals = yaml_format.load(OBJECTIVES.read_text(), CodifiedObjectives())
        goals.document_uri = OBJECTIVES.as_uri()
        goals.document_digest.digests["sha256"] = file_digest(OBJECTIVES)[0]
        objectives = run.stage(Stage.CODIFY_OBJECTIVES, payload=goals).send()
        # --- stage 2: data ingestion
        with run.stage(Stage.DATA_INGESTION) as stage:
            shards = write_shards(work / "raw", table)
            raw = client.create_dataset_version(f"{DATA}-raw", work / "raw")
            source = {"name": "sklearn.datasets.load_breast_cancer"}
            read = payloads.data_ingestion(raw, shards, sources=[source], connector="CSV")
            stage.set(read, rows_ingested=size)
            stage.output(raw, role="raw_data")
        # --- stage 3: data analysis
        with run.stage(Stage.DATA_ANALYSIS, inputs=[raw]) as stage:
            stage.set(payloads.data_analysis(table, raw, slice_by=[SIZE], row_ids="patient_id"))
        # --- stage 4: data transformation
        with run.stage(Stage.DATA_TRANSFORMATION, inputs=[raw, code]) as stage:
            vocab = run.artifact(
                str(write_csv(work / "size_group.vocab", {"value": np.array(list(vocabulary))})),
                type="VOCABULARY",
            )
            clean_v = client.create_dataset_version(
                f"{DATA}-clean", write_csv(work / "clean.csv", clean)
            )
            stage.set(
                input_datasets=[raw],
                output_dataset=clean_v,
                output_digest=clean_v.content_digest,
                input_row_count=len(table[LABEL]),
                output_row_count=len(clean[LABEL]),
                code={
                    "path": "examples/pipeline/pipeline.py",
                    "entry_point": "transform",
                    "digest": code.digest,
                },
                parameters={"outlier_iqr_k": 5.0},
                feature_mappings=[
                    {
                        "input_fields": [{"field": n}],
                        "output_field": f"log_{n}",
                        "kind": "SCALE",
                        "subtype": "log1p",
                    }
                    for n in LOGGED
                ]
                + [
                    {
                        "input_fields": [{"field": SIZE}],
                        "output_field": "size_group_id",
                        "kind": "VOCABULARY",
                        "vocabulary": SIZE,
                    }
                ],
                vocabularies=[
                    {
                        "feature": SIZE,
                        "artifact": vocab,
                        "size": len(vocabulary),
                        "digest": vocab.digest,
                    }
                ],
                outliers_removed=[
                    {
                        "rule": "iqr k=5",
                        "count": int(extreme.sum()),
                        "action": "DROP_ROW",
                        "fraction": float(extreme.mean()),
                    }
                ],
            )
            stage.outputs += [clean_v, vocab]
        # --- stage 5: data validation
        with run.stage(Stage.DATA_VALIDATION, inputs=[clean_v]) as stage:
            roles = {"patient_id": "IDENTIFIER", LABEL: "LABEL"}
            schema = payloads.infer_schema(sample(clean, 30), roles=roles, source_dataset=clean_v)
            stage.set(payloads.data_validation(clean, schema, dataset=clean_v))
        # --- stage 6: data splitting
        with run.stage(Stage.DATA_SPLITTING, inputs=[clean_v]) as stage:
            files = [(name, write_csv(work / f"{name}.csv", part)) for name, part in parts.items()]
            versions = {n: client.create_dataset_version(f"{DATA}-{n}", f) for n, f in files}
            splitting = payloads.data_splitting(
                clean_v, parts, datasets=versions, method="STRATIFIED", key_columns=["patient_id"]
            )
            stage.set(splitting)
            stage.outputs += versions.values()
        train_v, valid_v, held_v = (versions[n] for n in ("train", "validation", "holdback"))
        # --- stage 7: model training
        with run.stage(Stage.MODEL_TRAINING, inputs=[train_v, code]) as stage:
            search = train(parts["train"])
            model = save_model(search.best_estimator_, work / "model", clean)
            mv = client.register_model_version(MODEL, "1.0.0", model, framework="scikit-learn")
            run.log_params(search.best_params_)
            tried = payloads.sklearn_search(search)
            stage.set(payloads.model_training(mv, search=tried, training_data=[train_v], code=code))
            stage.output(mv, role="model")
        # --- stage 8: model evaluation
        with run.stage(Stage.MODEL_EVALUATION, inputs=[mv, valid_v, objectives]) as stage:
            rows_v, measure_v = parts["validation"], measure(search, parts["validation"])
            results = payloads.sliced_metric_results(rows_v, [SIZE], measure_v)
            run.log_metrics(measure_v(slice(None)))
            stage.set(payloads.model_evaluation(mv, results, objectives, splitting=splitting))
        ev = stage.recorded  # the evaluation the hold-back test follows
        # --- stage 9: model test
        # The hold-back set is used once per model version: a second run finds its test.
        test = client.latest_stage_report(Stage.MODEL_TEST, model_version=mv)
        if test is None:
            with run.stage(Stage.MODEL_TEST, inputs=[mv, held_v, objectives]) as stage:
                rows_h, measure_h = parts["holdback"], measure(search, parts["holdback"])
                results = payloads.sliced_metric_results(rows_h, [SIZE], measure_h)
                stage.set(
                    payloads.model_test(mv, results, objectives, evaluation=ev, splitting=splitting)
                )
            test = stage.recorded
        # --- stage 10: model packaging
        with run.stage(Stage.MODEL_PACKAGING, inputs=[mv]) as stage:
            signed = sign_model(model, key)
            stage.set(
                payloads.model_packaging(mv, "joblib", signed=signed, source_reports=[ev, test])
            )
        packaging = stage.recorded
        # --- stage 11: model serving
        with run.stage(Stage.MODEL_SERVING, inputs=[mv]) as stage:
            verify_model(model, key.with_suffix(".pub"))
            scorer = Scorer(model)
            stage.set(payloads.model_serving(mv, SCORER, f"inproc://{SCORER}", packaging=packaging))
        # --- stage 12: monitoring
        with endpoints.serve(0, name=SCORER, version="1.0.0") as server:
            start = now()
            served = [
                (rid, x, y, *scorer.score(x), now()) for rid, x, y in traffic(clean, REQUESTS)
            ]
            window = {"start_time": start, "end_time": now()}
            probe = http_status(f"{server.url}/ok")
            client.monitoring.ReportLivenessSignals(
                monitoring_service_pb2.ReportLivenessSignalsRequest(
                    signals=[
                        build(
                            signals_pb2.LivenessSignal,
                            component=SCORER,
                            endpoint=server.url,
                            model=mv,
                            probe="READINESS",
                            status="SERVING" if probe == 200 else "NOT_SERVING",
                            check_time=now(),
                        )
                    ]
                )
            )
            client.monitoring.RecordPredictions(
                monitoring_service_pb2.RecordPredictionsRequest(
                    requests=[
                        build(
                            inference_pb2.InferenceRequest,
                            application_id=APP,
                            request_id=rid,
                            request_time=t,
                            input_features=x,
                            deployment_endpoint=SCORER,
                        )
                        for rid, x, _, _, _, t in served
                    ],
                    predictions=[
                        build(
                            inference_pb2.InferencePrediction,
                            application_id=APP,
                            request_id=rid,
                            model=mv,
                            request_time=t,
                            prediction={"malignant_probability": p, "malignant": p >= 0.5},
                            confidence=max(p, 1 - p),
                            final=True,
                            inference_latency=s,
                            deployment_endpoint=SCORER,
                        )
                        for rid, x, _, p, s, t in served
                    ],
                )
            )
            client.monitoring.RecordFeedback(
                monitoring_service_pb2.RecordFeedbackRequest(
                    feedback=[
                        build(
                            inference_pb2.PredictionFeedback,
                            application_id=APP,
                            request_id=rid,
                            ground_truth_label=y,
                            feedback_time=now(),
                            source="pathology",
                        )
                        for rid, _, y, _, _, _ in served
                    ]
                )
            )
            inputs = {
                name: np.array([x[name] for _, x, _, _, _, _ in served]) for name in features(clean)
            }
            drift = [
                build(
                    signals_pb2.DriftSignal,
                    model=mv,
                    deployment_endpoint=SCORER,
                    target="FEATURE",
                    feature=name,
                    comparator="KOLMOGOROV_SMIRNOV",
                    value=distance(parts["train"][name], values),
                    threshold=0.25,
                    baseline={"training_data": versions["train"]},
                    window=window,
                    sample_count=len(served),
                    compute_time=now(),
                )
                for name, values in inputs.items()
            ]
            client.monitoring.ReportDriftSignals(
                monitoring_service_pb2.ReportDriftSignalsRequest(signals=drift)
            )
            observed = scores(
                np.array([y for _, _, y, _, _, _ in served]),
                np.array([p for _, _, _, p, _, _ in served]),
            )
            client.monitoring.ReportPerformanceSignals(
                monitoring_service_pb2.ReportPerformanceSignalsRequest(
                    signals=[
                        build(
                            signals_pb2.PerformanceSignal,
                            model=mv,
                            deployment_endpoint=SCORER,
                            metric=o.metric_name,
                            value=observed[o.metric_name],
                            window=window,
                            sample_count=len(served),
                            direction="HIGHER_IS_BETTER",
                            objective_id=o.id,
                            objective_threshold=o.threshold,
                            compute_time=now(),
                        )
                        for o in goals.objectives
                        if not o.scope.feature_values
                    ]
                )
            )
            # --- stage 13: inference logging
            provenance = {
                "pipeline_version_digest": code.digest,
                "training_run": run.run,
                "feature_set_digest": code.digest,
                "training_data": [
                    {"dataset": versions[n], "role": n, "digest": versions[n].content_digest}
                    for n in ("train", "validation")
                ],
                "model_digest": mv.artifact.digest,
            }
            records = [
                build(
                    inference_log_pb2.InferenceLogRecord,
                    log_stream_id=SCORER,
                    request_id=rid,
                    event_name="inference.request",
                    access={
                        "time": t,
                        "request_line": {
                            "method": "POST",
                            "path": f"/v1/models/{MODEL}:predict",
                            "protocol": "HTTP/1.1",
                        },
                        "status": 200,
                        "remote_host": "127.0.0.1",
                    },
                    inference={
                        "application_id": APP,
                        "request_time": t,
                        "input_features": x,
                        "prediction": {"malignant_probability": p},
                        "model": mv,
                        "inference_latency": s,
                        "result_code": "OK",
                    },
                    provenance=provenance,
                )
                for rid, x, _, p, s, t in served
            ]
            client.logging.WriteInferenceLogs(
                logging_service_pb2.WriteInferenceLogsRequest(log_stream_id=SCORER, records=records)
            )
    return mv, run.run
    # --- end
