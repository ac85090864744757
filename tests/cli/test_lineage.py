"""``mlspec lineage``: the tree of the SDK, Graphviz DOT, and the graph as JSON or YAML."""

from __future__ import annotations

import json
import re

import pytest

from mlspec import yaml_format
from mlspec.lifecycle.v1 import lineage_pb2

from .conftest import invoke, one_error_line


def lineage(target: str, *args: str) -> str:
    result = invoke("--server", target, "lineage", *args)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_the_tree_goes_up_to_the_data(seeded: str) -> None:
    tree = lineage(seeded, "model-version", "churn-xgb@7.0.0", "--depth", "4").splitlines()
    assert tree[0].startswith("MODEL_VERSION churn-xgb-7-0-0 7.0.0 (")
    assert any(
        "<- PRODUCED[registered_model] STAGE_REPORT churn-train-2026-03-02" in t for t in tree
    )
    assert any(t.startswith("    <- CONSUMED[training_data] DATASET_VERSION") for t in tree)
    assert lineage(seeded, "model-version", "churn-xgb:7.0.0", "--depth", "4").splitlines() == tree
    down = lineage(seeded, "dataset-version", "customer-features-holdback@1", "-d", "down")
    assert "CONSUMED[holdback_data] STAGE_REPORT churn-holdback-test-2026-03-02" in down


def test_dot_json_and_yaml(seeded: str) -> None:
    dot = lineage(seeded, "-o", "dot", "model-version", "churn-xgb@7.0.0", "--depth", "2")
    assert dot.startswith('digraph "lineage" {\n') and dot.endswith("}\n")
    nodes = re.findall(r'^  "([0-9a-f-]{36})" \[label=', dot, flags=re.M)
    edges = re.findall(r'^  "([0-9a-f-]{36})" -> "([0-9a-f-]{36})"', dot, flags=re.M)
    assert nodes and edges and {n for e in edges for n in e} <= set(nodes)
    as_json = json.loads(
        lineage(seeded, "model-version", "churn-xgb@7.0.0", "--depth", "2", "-o", "json")
    )
    assert sorted(n["resource"]["id"] for n in as_json["nodes"]) == sorted(nodes)
    text = lineage(seeded, "model-version", "churn-xgb@7.0.0", "--depth", "2", "-o", "yaml")
    graph = yaml_format.load(text, lineage_pb2.LineageGraph())
    assert sorted(n.resource.id for n in graph.nodes) == sorted(nodes)


def test_an_id_alone_finds_its_kind(seeded: str) -> None:
    found = json.loads(
        invoke(
            "--server", seeded, "-o", "json", "get", "stage-report", "churn-eval-2026-03-02"
        ).stdout
    )
    tree = lineage(seeded, found["meta"]["id"], "--depth", "1")
    assert tree.startswith("STAGE_REPORT churn-eval-2026-03-02 [MODEL_EVALUATION] (")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["churn-xgb"],
            "mlspec: 'churn-xgb' is not an id: give the kind too, for example "
            "'mlspec lineage model-version churn-xgb'",
        ),
        (
            ["4c8e1f2a-7b3d-4a9e-8f10-2d6c5b9a1e07"],
            "mlspec: NOT_FOUND: no resource has the id '4c8e1f2a-7b3d-4a9e-8f10-2d6c5b9a1e07'",
        ),
        (["model-version", "churn-xgb@1.0.0"], "mlspec: NOT_FOUND: Model "),
        (["model", "churn-xgb", "--depth", "0"], "mlspec: lineage: Invalid value for '--depth'"),
        (["a", "b", "c"], "mlspec: lineage takes [KIND] REF: at most two words"),
    ],
)
def test_mistakes_are_one_line(seeded: str, args: list[str], expected: str) -> None:
    line = one_error_line(invoke("--server", seeded, "lineage", *args))
    assert line.startswith(expected), line
