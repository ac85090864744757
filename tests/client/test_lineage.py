"""client.lineage: typed nodes and edges, an indented tree and Graphviz DOT."""

from __future__ import annotations

import pathlib
import re

from google.protobuf import json_format

from mlspec.client import Client, LineageGraph, Stage
from mlspec.lifecycle.v1 import lineage_pb2


def _pipeline(client: Client, tmp_path: pathlib.Path) -> tuple[object, object, object]:
    (tmp_path / "train.csv").write_text("x\n1\n")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.bin").write_bytes(b"w")
    train = client.create_dataset_version("train-set", tmp_path / "train.csv")
    with client.start_run(experiment="lineage", name="fit") as run:
        mv = client.register_model_version("churn-model", 1, tmp_path / "model")
        with run.stage(Stage.MODEL_TRAINING, name="fit-report", model_version=mv) as stage:
            stage.input(train, role="training_data")
            stage.output(mv, role="registered_model")
            stage.set(output_model=mv, training_datasets=[train])
    return train, mv, stage.report


def test_upstream_tree_and_dot(client: Client, tmp_path: pathlib.Path) -> None:
    train, mv, report = _pipeline(client, tmp_path)
    graph = client.lineage(mv, direction="upstream")
    assert isinstance(graph, LineageGraph)
    assert graph.root is not None and graph.root.id == mv.meta.id  # type: ignore[attr-defined]
    ids = {node.id for node in graph.nodes}
    assert {train.meta.id, report.meta.id} <= ids  # type: ignore[attr-defined]
    assert any(e.role == "training_data" and e.source == train.meta.id for e in graph.edges)  # type: ignore[attr-defined]

    tree = graph.tree().splitlines()
    assert tree[0].startswith("MODEL_VERSION churn-model-1-0-0 1.0.0")
    assert any("CONSUMED[training_data] DATASET_VERSION" in line for line in tree)
    depth = {line.strip(): len(line) - len(line.lstrip()) for line in tree}
    report_line = next(k for k in depth if "STAGE_REPORT fit-report" in k)
    data_line = next(k for k in depth if "CONSUMED[training_data]" in k)
    assert depth[data_line] > depth[report_line] > 0

    dot = graph.to_dot()
    assert dot.startswith('digraph "lineage" {') and dot.rstrip().endswith("}")
    assert f'"{train.meta.id}" -> "{report.meta.id}" [label="CONSUMED (training_data)"];' in dot  # type: ignore[attr-defined]
    # Every edge names declared nodes.
    declared = set(re.findall(r'^  "([^"]+)" \[label', dot, re.M))
    for source, target in re.findall(r'^  "([^"]+)" -> "([^"]+)"', dot, re.M):
        assert source in declared and target in declared


def test_downstream_from_the_data(client: Client, tmp_path: pathlib.Path) -> None:
    train, mv, _ = _pipeline(client, tmp_path)
    graph = client.lineage(train, direction="downstream", depth=5)
    assert mv.meta.id in {n.id for n in graph.nodes}  # type: ignore[attr-defined]
    assert "MODEL_VERSION churn-model-1-0-0 1.0.0" in graph.tree()


def test_tree_of_a_message_without_nodes() -> None:
    assert LineageGraph(lineage_pb2.LineageGraph(), "upstream").tree() == ""


def _gated(decision: str, approval: dict[str, object] | None = None) -> lineage_pb2.LineageGraph:
    report = {
        "resource": {"kind": "RESOURCE_KIND_STAGE_REPORT", "id": "r1"},
        "name": "pkg-c3",
        "stage": "LIFECYCLE_STAGE_MODEL_PACKAGING",
        "depth": 1,
        "gateDecision": decision,
    }
    if approval is not None:
        report["deploymentApproval"] = approval
    return json_format.ParseDict(
        {
            "root": {"kind": "RESOURCE_KIND_MODEL_VERSION", "id": "m1"},
            "nodes": [
                {
                    "resource": {"kind": "RESOURCE_KIND_MODEL_VERSION", "id": "m1"},
                    "name": "churn",
                    "version": "3",
                },
                report,
            ],
            "edges": [{"sourceId": "r1", "targetId": "m1", "kind": "LINEAGE_EDGE_KIND_DESCRIBES"}],
        },
        lineage_pb2.LineageGraph(),
    )


def test_the_tree_shows_the_gate_decision_of_a_stage_report() -> None:
    reason = "Hotfix for the billing outage, ticket OPS-512; the AUC drop is a known " * 2
    approval = {"approver": {"name": "Lena Vogt"}, "reason": reason, "override": True}
    lines = LineageGraph(_gated("DEPLOYMENT_GATE_DECISION_OVERRIDDEN", approval), "up").tree()
    line = lines.splitlines()[1]
    assert line.startswith(
        "  <- DESCRIBES STAGE_REPORT pkg-c3 [MODEL_PACKAGING] (r1) gate OVERRIDDEN by Lena Vogt: "
        "Hotfix for the billing outage"
    )
    assert line.endswith("...") and len(line) < 160
    passed = LineageGraph(_gated("DEPLOYMENT_GATE_DECISION_PASSED"), "up").tree()
    assert passed.splitlines()[1].endswith("[MODEL_PACKAGING] (r1) gate PASSED")
    none = LineageGraph(_gated("DEPLOYMENT_GATE_DECISION_UNSPECIFIED"), "up").tree()
    assert none.splitlines()[1].endswith("[MODEL_PACKAGING] (r1)")
    assert (
        'label="STAGE_REPORT pkg-c3 [MODEL_PACKAGING]\\ngate PASSED"'
        in LineageGraph(_gated("DEPLOYMENT_GATE_DECISION_PASSED"), "up").to_dot()
    )
