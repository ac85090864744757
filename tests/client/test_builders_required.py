"""Every stage payload builder of the SDK fills what the contract requires.

The server refuses a payload with a REQUIRED field unset at any depth; the builders'
output is checked here with the same descriptor walk the server uses
(``field_behavior.missing_required``), with and without the optional inputs that fill
the Required outcome fields (objectives, datasets).
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import pytest
from google.protobuf.message import Message

from mlspec.client import payloads
from mlspec.client.evaluation import metric_results
from mlspec.client.fields import build
from mlspec.client.stages import Stage, StageContext
from mlspec.data.v1.dataset_pb2 import DatasetVersion
from mlspec.domain.common.field_behavior import missing_required
from mlspec.lifecycle.v1.objectives_pb2 import CodifiedObjectives
from mlspec.lifecycle.v1.stage_report_pb2 import StageReport
from mlspec.models.v1.model_version_pb2 import ModelVersion

RNG = np.random.default_rng(7)
TABLE = {
    "id": np.arange(100),
    "x": RNG.normal(size=100),
    "group": np.array(["a", "b"] * 50, dtype=object),
    "label": RNG.integers(0, 2, 100),
}
PARTS = {
    "train": {k: v[:60] for k, v in TABLE.items()},
    "validation": {k: v[60:80] for k, v in TABLE.items()},
    "holdback": {k: v[80:] for k, v in TABLE.items()},
}
GOALS = build(
    CodifiedObjectives,
    objectives=[
        {
            "id": "auc",
            "name": "AUC",
            "metric_name": "auc",
            "threshold": {"value_threshold": {"lower_bound": 0.8}},
        }
    ],
)
RESULTS = metric_results({"auc": 0.9}) + metric_results({"auc": 0.85}, slice={"group": "a"})


def version(i: int) -> DatasetVersion:
    out = DatasetVersion()
    out.meta.id = f"dv-{i}"
    out.content_digest.digests["sha256"] = str(i) * 64
    return out


def model() -> ModelVersion:
    out = ModelVersion()
    out.meta.id = "mv-1"
    out.artifact.uri = "file:///models/m1/"
    out.artifact.digest.digests["sha256"] = "a" * 64
    return out


def splitting() -> Any:
    datasets = {name: version(i) for i, name in enumerate(PARTS, 2)}
    return payloads.data_splitting(version(1), PARTS, datasets=datasets, key_columns=["id"])


def evaluation(objectives: Any) -> StageReport:
    report = StageReport()
    report.meta.id = "ev-1"
    report.model_evaluation.CopyFrom(
        payloads.model_evaluation(model(), RESULTS, objectives, splitting=splitting())
    )
    return report


def ingestion(folder: pathlib.Path) -> Any:
    (folder / "part-0.csv").write_text("x\n1\n")
    undigested = DatasetVersion()  # the dataset digest then comes from the files
    undigested.meta.id = "dv-raw"
    payload = payloads.data_ingestion(
        undigested, [folder / "part-0.csv"], sources=["s3://lake/raw/"], connector="CSV"
    )
    # The read's times are the stage block's: the report a block sends carries them.
    stage = StageContext(cast(Any, None), Stage.DATA_INGESTION, payload=payload)
    report = stage.build()
    assert payload.ByteSize() and report.data_ingestion.end_time == report.end_time
    return report.data_ingestion


BUILDERS: dict[str, Callable[[pathlib.Path], Message]] = {
    "data_ingestion": ingestion,
    "data_analysis": lambda _: payloads.data_analysis(TABLE, version(1), slice_by=["group"]),
    "data_validation": lambda _: payloads.data_validation(
        TABLE, payloads.infer_schema(TABLE, roles={"id": "IDENTIFIER"}), dataset=version(1)
    ),
    "data_splitting": lambda _: splitting(),
    "model_training": lambda _: payloads.model_training(model(), training_data=[version(2)]),
    "model_evaluation": lambda _: evaluation(GOALS).model_evaluation,
    "model_evaluation without objectives": lambda _: evaluation(None).model_evaluation,
    "model_test": lambda _: payloads.model_test(
        model(), RESULTS, GOALS, evaluation=evaluation(GOALS), splitting=splitting()
    ),
    "model_test without objectives": lambda _: payloads.model_test(
        model(), RESULTS, evaluation=evaluation(None), splitting=splitting()
    ),
    "model_packaging": lambda _: payloads.model_packaging(
        model(), "joblib", source_reports=["ev-1"]
    ),
    "model_serving": lambda _: payloads.model_serving(model(), "scorer", "https://s.example/v1"),
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_a_builders_payload_has_every_required_field(name: str, tmp_path: pathlib.Path) -> None:
    payload = BUILDERS[name](tmp_path)
    assert missing_required(payload, name.split()[0]) == []


def test_an_ingestion_needs_its_sources() -> None:
    with pytest.raises(ValueError, match="sources"):
        payloads.data_ingestion(version(1), sources=[], connector="CSV")
