"""The deployment gate refusing a deliberately worse model (``make demo`` runs it last).

After ``pipeline.run_pipeline`` has trained, tested, packaged and served version 1.0.0,
this trains version 1.0.1 of the same model with the same search but on one measurement
only (the texture of the cell nuclei), so that it finds far fewer malignant tumours. It
reports the new version's training and its evaluation on the same validation set
against the same objectives (the evaluation's own verdict: they are missed), then asks
to package it. The server's deployment gate refuses the packaging report with
FAILED_PRECONDITION, one reason per blocking objective missed (with the value observed)
and for the hold-back test that was never run, and stores nothing for it.
"""

from __future__ import annotations

import pathlib

import pipeline as p

from mlspec import yaml_format
from mlspec.client import Client, Stage, StageFailed, file_digest, payloads
from mlspec.client.errors import FailedPrecondition
from mlspec.client.signing import sign_model
from mlspec.lifecycle.v1.objectives_pb2 import CodifiedObjectives

ONLY = "mean_texture"  # the one measurement the worse model sees
VERSION = "1.0.1"


def narrow(table: p.Columns) -> p.Columns:
    """The columns the worse model is trained and measured on: one input, slice, label."""
    return {name: table[name] for name in (ONLY, p.SIZE, p.LABEL)}


def refused_packaging(client: Client, work: pathlib.Path, key: pathlib.Path) -> list[str]:
    """Reports the worse version up to its packaging; returns the gate's reasons to refuse.

    Raises ``RuntimeError`` when the server packages it: the gate would be broken.
    """
    clean, _, _ = p.transform(p.load_table())
    parts = {name: narrow(part) for name, part in p.split(clean).items()}
    train_v, valid_v = (
        client.create_dataset_version(f"{p.DATA}-{name}", work / f"{name}.csv")
        for name in ("train", "validation")
    )
    goals = yaml_format.load(p.OBJECTIVES.read_text(), CodifiedObjectives())
    goals.document_uri = p.OBJECTIVES.as_uri()
    goals.document_digest.digests["sha256"] = file_digest(p.OBJECTIVES)[0]
    try:
        with client.start_run(experiment=p.DATA) as run:
            objectives = run.stage(Stage.CODIFY_OBJECTIVES, payload=goals).send()
            with run.stage(Stage.MODEL_TRAINING, inputs=[train_v]) as stage:
                search = p.train(parts["train"])
                folder = p.save_model(search.best_estimator_, work / "worse", parts["train"])
                mv = client.register_model_version(
                    p.MODEL, VERSION, folder, framework="scikit-learn"
                )
                stage.set(payloads.model_training(mv, training_data=[train_v]))
                stage.output(mv, role="model")
            try:
                with run.stage(Stage.MODEL_EVALUATION, inputs=[mv, valid_v, objectives]) as stage:
                    valid = parts["validation"]
                    measured = p.measure(search, valid)
                    results = payloads.sliced_metric_results(valid, [p.SIZE], measured)
                    datasets = {"validation": valid_v}
                    stage.set(payloads.model_evaluation(mv, results, objectives, datasets=datasets))
            except StageFailed:
                pass  # the evaluation's own verdict; its report is stored, FAILED
            with run.stage(Stage.MODEL_PACKAGING, inputs=[mv]) as stage:
                signed = sign_model(folder, key)
                stage.set(payloads.model_packaging(mv, "joblib", signed=signed))
    except FailedPrecondition as refused:  # the run ends FAILED with it
        return [f"{field}: {why}" for field, why in refused.field_violations]
    raise RuntimeError(f"the gate packaged {p.MODEL} {VERSION}, which misses its objectives")
