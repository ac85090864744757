"""Objectives from the SDK and the command line: client.evaluate_objectives, split
fingerprints the server compares, `mlspec objectives check FILE` and `mlspec gate`."""

from __future__ import annotations

import pathlib
from typing import Any

from click.testing import CliRunner

from mlspec import yaml_format
from mlspec.cli.root import cli
from mlspec.client import Client, FailedPrecondition, Stage
from mlspec.client.objectives import split_fingerprint
from mlspec.lifecycle.v1 import deployment_gate_pb2 as gate_pb
from mlspec.lifecycle.v1 import objectives_pb2

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples" / "lifecycle"
OBJECTIVES: dict[str, Any] = {
    "objectives_version": "1",
    "model_outputs": [{"name": "churn_probability", "type": "VALUE_TYPE_DOUBLE"}],
    "document_digest": {"digests": {"sha256": "0" * 64}},
    "objectives": [
        {
            "id": "auc-overall",
            "name": "AUC",
            "metric_name": "auc",
            "threshold": {"value_threshold": {"lower_bound": 0.8}},
            "severity": "OBJECTIVE_SEVERITY_BLOCKING",
            "expression": {"text": "auc >= 0.8", "dialect": "mlspec-objective/v1"},
        }
    ],
    "launch_criteria": {},
}


def _pipeline(client: Client, auc: float, version: str, folder: pathlib.Path) -> Any:
    """Objectives, a model version and its evaluation with the given AUC."""
    weights = folder / f"model-{version}.bin"
    weights.write_bytes(version.encode())
    rows = folder / "validation.csv"
    rows.write_text("customer_id,churned\nc1,0\n")
    data = client.create_dataset_version("churn-validation", rows)
    with client.start_run(experiment="gate") as run:
        with run.stage(Stage.CODIFY_OBJECTIVES) as codify:
            codify.set(**OBJECTIVES)
        model_version = client.register_model_version("churn", version, weights)
        with run.stage(Stage.MODEL_EVALUATION, model_version=model_version) as evaluation:
            evaluation.set(
                candidate_model=model_version,
                datasets=[{"dataset": data, "digest": data.content_digest}],
                objectives_report=codify.report,
                metric_results=[{"metric_key": {"name": "auc"}, "slice_key": {}, "value": auc}],
                objectives_outcome="PASSED" if auc >= 0.8 else "FAILED",
                decision="NEEDS_REVIEW",  # the deployment gate decides, below
            )
    return model_version


def test_the_sdk_and_the_cli_show_the_gate_passing_and_refusing(
    client: Client, target: str, tmp_path: pathlib.Path
) -> None:
    good = _pipeline(client, 0.9, "1.0.0", tmp_path)
    worse = _pipeline(client, 0.7, "1.1.0", tmp_path)
    first = client.evaluate_objectives(good)
    assert first.gate.decision == gate_pb.DEPLOYMENT_GATE_DECISION_PASSED, first.gate
    answer = client.evaluate_objectives(worse.meta.id)
    assert answer.gate.decision == gate_pb.DEPLOYMENT_GATE_DECISION_BLOCKED
    assert answer.evaluations[0].results[0].observations[0].value == 0.7
    runner = CliRunner()
    passed = runner.invoke(cli, ["--server", target, "gate", "churn:1.0.0"])
    assert passed.exit_code == 0, passed.output
    assert passed.stdout.splitlines()[0] == f"model version {good.meta.id}: PASSED"
    canonical = runner.invoke(cli, ["--server", target, "gate", "churn@1.0.0"])
    assert canonical.exit_code == 0, canonical.output
    assert canonical.stdout == passed.stdout
    refused = runner.invoke(cli, ["--server", target, "gate", worse.meta.id])
    assert refused.exit_code == 1
    assert "FAILED   auc-overall: does not hold: auc = 0.7" in refused.stdout
    assert "why: evaluation (report" in refused.stdout
    as_json = runner.invoke(cli, ["--server", target, "-o", "json", "gate", worse.meta.id])
    assert '"decision": "DEPLOYMENT_GATE_DECISION_BLOCKED"' in as_json.stdout
    with client.start_run(experiment="gate") as run:
        try:
            with run.stage(Stage.MODEL_PACKAGING, model_version=worse) as packaging:
                packaging.set(
                    model=worse,
                    package_format="onnx",
                    package_uri="s3://p",
                    package_digest={"digests": {"sha256": "ab" * 32}},
                )
        except FailedPrecondition as refusal:
            assert refusal.reason == "DEPLOYMENT_GATE_FAILED"
        else:
            raise AssertionError("a model that misses its objectives was packaged")
        with run.stage(Stage.MODEL_PACKAGING, model_version=worse) as packaging:
            packaging.set(
                model=worse,
                package_format="onnx",
                package_uri="s3://p",
                package_digest={"digests": {"sha256": "ab" * 32}},
            )
            packaging.input(worse, role="packaged_model")
            packaging.approve("Lena Vogt", "hotfix, ticket OPS-512", override=True)
    tree = runner.invoke(
        cli, ["--server", target, "lineage", "model-version", "churn@1.1.0", "-d", "down"]
    )
    assert tree.exit_code == 0, tree.output
    assert "[MODEL_PACKAGING] (" in tree.stdout
    assert ") gate OVERRIDDEN by Lena Vogt: hotfix, ticket OPS-512\n" in tree.stdout


def test_split_fingerprints_let_the_server_count_the_overlap(
    client: Client, tmp_path: pathlib.Path
) -> None:
    train = split_fingerprint([f"c{i}" for i in range(1000)], ["customer_id"])
    holdback = split_fingerprint([f"c{i}" for i in range(990, 1100)], ["customer_id"])
    sampled = [
        split_fingerprint(keys, ["customer_id"], sample_rate=0.5)
        for keys in ([f"c{i}" for i in range(1000)], [f"c{i}" for i in range(990, 1100)])
    ]
    assert len(sampled[0].key_hashes) < len(train.key_hashes)
    (tmp_path / "customers.csv").write_text("customer_id\nc1\n")
    source = client.create_dataset_version("customers", tmp_path / "customers.csv")
    # The splits are not written out here: the source's digest stands in for theirs.
    how = {"method": "SPLIT_METHOD_HASH", "digest": source.content_digest}
    with client.start_run(experiment="split") as run, run.stage(Stage.DATA_SPLITTING) as split:
        split.set(
            source_dataset=source,
            splits=[
                {"name": "train", "role": "SPLIT_ROLE_TRAIN", "fingerprint": train, **how},
                {
                    "name": "holdback",
                    "role": "SPLIT_ROLE_HOLDBACK",
                    "fingerprint": holdback,
                    **how,
                },
                {"name": "train-s", "role": "SPLIT_ROLE_TRAIN", "fingerprint": sampled[0], **how},
                {
                    "name": "holdback-s",
                    "role": "SPLIT_ROLE_HOLDBACK",
                    "fingerprint": sampled[1],
                    **how,
                },
            ],
        )
    assert split.report is not None
    counts = {
        (c.split_a, c.split_b): c.overlap_count
        for c in split.report.data_splitting.computed_leakage_checks
    }
    assert counts == {
        ("train", "holdback"): 10,
        ("train-s", "holdback-s"): counts[("train-s", "holdback-s")],
    }
    assert 0 < counts[("train-s", "holdback-s")] <= 30


def test_objectives_check_reads_every_example_and_points_at_a_bad_expression(
    tmp_path: pathlib.Path,
) -> None:
    runner = CliRunner()
    for name in ("stage-01-codify-objectives.yaml", "payload-01-objectives.yaml"):
        ok = runner.invoke(cli, ["objectives", "check", str(EXAMPLES / name)])
        assert ok.exit_code == 0 and ok.stdout.endswith("4 objectives: no problems\n")
    message = yaml_format.load(
        (EXAMPLES / "payload-01-objectives.yaml").read_text(), objectives_pb2.CodifiedObjectives()
    )
    message.objectives[1].expression.text = "recall[segment=new] >= 0.6 and"
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "# message: mlspec.lifecycle.v1.CodifiedObjectives\n" + yaml_format.dump(message)
    )
    found = runner.invoke(cli, ["objectives", "check", str(bad)])
    assert found.exit_code == 1
    line = next(
        n for n, t in enumerate(bad.read_text().splitlines(), 1) if "segment=new] >= 0.6 and" in t
    )
    assert found.stdout.startswith(f"{bad}:{line}:")
    assert "objectives[1].expression.text: column 31: unexpected the end" in found.stdout


def test_objectives_check_refuses_a_file_without_objectives(tmp_path: pathlib.Path) -> None:
    runner = CliRunner()
    training = EXAMPLES / "stage-07-model-training.yaml"
    other = runner.invoke(cli, ["objectives", "check", str(training)])
    assert other.exit_code == 1 and other.stdout == ""
    assert other.stderr == (
        f"mlspec: {training} is a MODEL_TRAINING report, not a stage 1 (CODIFY_OBJECTIVES) "
        "report: it holds no objectives to check\n"
    )
    empty = tmp_path / "empty.yaml"
    empty.write_text("# message: mlspec.lifecycle.v1.CodifiedObjectives\ntask: churn\n")
    none = runner.invoke(cli, ["objectives", "check", str(empty)])
    assert none.exit_code == 1
    assert none.stderr == f"mlspec: {empty} holds no objectives to check\n"
