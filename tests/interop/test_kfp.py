"""Kubeflow Pipelines: pipelines compiled by the real kfp compiler import and publish.

The IR files come from tool_scripts/kfp_pipelines.py, compiled in the kfp virtual
environment (conftest.py); the importer reads them without kfp.
"""

from __future__ import annotations

import hashlib
import pathlib
import re
import string

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from mlspec.cli.root import cli
from mlspec.client import Client
from mlspec.common.v1 import value_pb2
from mlspec.interop import kfp, names
from mlspec.pipelines.v1 import graph_pb2, module_pb2, pipeline_pb2
from mlspec.pipelines.v1 import pipelines_service_pb2 as pb
from mlspec.server.app import RunningServer


def imported(client: Client, path: pathlib.Path) -> kfp.KfpImport:
    return kfp.import_pipeline(client, kfp.load(path.read_text()), str(path))


def version_of(client: Client, vertex: graph_pb2.Vertex) -> module_pb2.ModuleVersion:
    """The module version a published step runs (references are pinned by id on create)."""
    found: module_pb2.ModuleVersion = client.pipelines.GetModuleVersion(
        pb.GetModuleVersionRequest(id=vertex.step.module.id)
    ).module_version
    return found


def vertices(
    pipeline: pipeline_pb2.Pipeline | module_pb2.ModuleVersion,
) -> dict[str, graph_pb2.Vertex]:
    return {v.id: v for v in pipeline.graph.vertices}


def test_every_compiled_pipeline_publishes_and_a_second_import_adds_nothing(
    client: Client, kfp_ir: dict[str, pathlib.Path]
) -> None:
    assert set(kfp_ir) == {"add_numbers", "train_and_gate", "fan_out", "exit_and_import"}
    for name, path in kfp_ir.items():
        first = imported(client, path)
        assert first.pipeline.meta.id and first.pipeline.version == first.plan.label, name
        assert first.counts.created["Pipeline"] == 1
        again = imported(client, path)
        assert again.counts.total_created == 0, (name, again.counts.rows())
        assert again.pipeline.meta.id == first.pipeline.meta.id
    # A component used twice, or by two pipelines, is one module version.
    listed = client.pipelines.ListModules(pb.ListModulesRequest(page_size=100)).modules
    assert len([m for m in listed if m.meta.name == "add"]) == 1
    add = next(m for m in listed if m.meta.name == "add")
    versions = client.pipelines.ListModuleVersions(
        pb.ListModuleVersionsRequest(module_id=add.meta.id)
    )
    assert len(versions.module_versions) == 1


def test_parameters_outputs_and_inline_code(
    client: Client, kfp_ir: dict[str, pathlib.Path]
) -> None:
    result = imported(client, kfp_ir["add_numbers"])
    pipeline = result.pipeline
    assert {p.name: value_pb2.ValueType.Name(p.type) for p in pipeline.graph.parameters} == {
        "a": "VALUE_TYPE_DOUBLE",
        "b": "VALUE_TYPE_DOUBLE",
    }
    steps = vertices(pipeline)
    second = steps["add-2"].step.parameters["a"]
    assert second.step_output == graph_pb2.Port(vertex_id="add", port_name="Output")
    assert steps["add-2"].step.parameters["b"].graph_parameter == "b"
    assert [(o.name, o.source.vertex_id, o.source.port_name) for o in pipeline.graph.outputs] == [
        ("Output", "add-2", "Output")
    ]
    version = version_of(client, steps["add"])
    inline = version.snapshot.inline
    assert "def add(a: float, b: float) -> float:" in inline.code
    assert (
        version.snapshot.digest.digests["sha256"]
        == hashlib.sha256(inline.code.encode()).hexdigest()
    )
    assert (version.executor.runtime_image, version.executor.entrypoint) == ("python:3.11", "add")
    assert [p.name for p in version.interface.parameters] == ["a", "b"]
    assert [(o.name, o.WhichOneof("type")) for o in version.interface.outputs] == [
        ("Output", "value_type")
    ]


def test_conditions_retry_caching_resources_and_images_by_tag(
    client: Client, kfp_ir: dict[str, pathlib.Path]
) -> None:
    pipeline = imported(client, kfp_ir["train_and_gate"]).pipeline
    steps = vertices(pipeline)
    train = steps["train"].step.options
    assert train.retry_policy.max_retries == 3
    assert train.retry_policy.initial_backoff.seconds == 30
    assert train.retry_policy.backoff_multiplier == 2.0
    assert steps["make-data"].step.options.caching.mode == graph_pb2.CACHE_MODE_DISABLED
    assert train.caching.mode == graph_pb2.CACHE_MODE_ENABLED
    train_version = version_of(client, steps["train"])
    assert train_version.executor.resources.cpu_limit == 2.0
    assert train_version.executor.resources.memory_limit_bytes == 4_000_000_000
    assert [e.kind for e in pipeline.graph.edges] == [graph_pb2.EDGE_KIND_DATA]
    branches = version_of(client, steps["condition-branches-1"])  # a complex module
    conditions = {v.display_name: v.step.options.trigger for v in branches.graph.vertices}
    assert conditions["good-enough"].condition == (
        "params.pipelinechannel_train_Output >= params.pipelinechannel_threshold"
    )
    assert conditions["condition-3"].condition.startswith("!(params.pipelinechannel_train_Output")
    bound = steps["condition-branches-1"].step.parameters["pipelinechannel_train_Output"]
    assert bound.step_output == graph_pb2.Port(vertex_id="train", port_name="Output")
    else_branch = next(v for v in branches.graph.vertices if v.display_name == "condition-3")
    otherwise = version_of(client, vertices(version_of(client, else_branch))["shout"])
    assert otherwise.snapshot.container_image.image == "alpine:3.20"
    assert otherwise.snapshot.digest.unknown_reason.startswith("kfp: image alpine:3.20")
    assert list(otherwise.executor.args) == ["{{parameters.text}}"]


def test_loops_exit_handlers_importers_and_sub_pipelines(
    client: Client, kfp_ir: dict[str, pathlib.Path]
) -> None:
    fan_out = vertices(imported(client, kfp_ir["fan_out"]).pipeline)
    loop = fan_out["for-loop-1"].step
    assert (loop.options.iterator.graph_parameter, loop.options.iterator.parallelism) == (
        "messages",
        2,
    )
    assert loop.parameters["pipelinechannel_messages_loop_item"].HasField("iterator_item")
    literal = fan_out["for-loop-3"].step.options.iterator.literal_items
    assert [v.double_value for v in literal.values] == [1.0, 2.0]
    result = imported(client, kfp_ir["exit_and_import"])
    steps = vertices(result.pipeline)
    assert (
        steps["cleanup"].step.options.trigger.policy
        == graph_pb2.TRIGGER_POLICY_ALL_UPSTREAM_COMPLETED
    )
    assert any("taskFinalStatus" in note for note in result.plan.notes)
    handler = vertices(version_of(client, steps["exit-handler-1"]))
    assert handler["importer"].data.data_path_uri == "gs://example-bucket/data.csv"
    assert handler["importer"].data.artifact_type.schema_title == "system.Dataset"
    sub = version_of(client, handler["score-model"])
    assert [p.name for p in sub.interface.inputs] == ["model"]
    assert any(v.data.graph_input == "model" for v in sub.graph.vertices)
    train = version_of(client, handler["train"])
    assert [(a.type, a.count) for a in train.executor.resources.accelerators] == [
        ("nvidia.com/gpu", 1)
    ]


def test_the_import_command(
    server: RunningServer, kfp_ir: dict[str, pathlib.Path], tmp_path: pathlib.Path
) -> None:
    runner = CliRunner()
    target = f"127.0.0.1:{server.port}"
    path = str(kfp_ir["train_and_gate"])
    first = runner.invoke(cli, ["--server", target, "import", "kfp", path])
    assert first.exit_code == 0, first.output
    assert "pipeline train-and-gate" in first.output and "Pipeline" in first.output
    second = runner.invoke(cli, ["--server", target, "-o", "json", "import", "kfp", path])
    assert second.exit_code == 0 and '"created": {}' in second.output
    bad = tmp_path / "not-kfp.yaml"
    bad.write_text("apiVersion: argoproj.io/v1alpha1\nkind: Workflow\n")
    failed = runner.invoke(cli, ["--server", target, "import", "kfp", str(bad)])
    assert failed.exit_code == 1
    assert failed.stderr.startswith("mlspec: ") and "compile it with" in failed.stderr
    assert failed.stderr.count("\n") == 1


@given(st.text())
def test_load_reads_a_pipeline_or_says_why_not(text: str) -> None:
    try:
        kfp.load(text)
    except kfp.KfpFormatError as exc:
        assert str(exc)


@pytest.mark.parametrize(
    ("convert", "pattern"),
    [
        (names.vertex_id, r"[a-z][a-z0-9_-]{0,62}"),
        (names.identifier, r"[A-Za-z][A-Za-z0-9_]{0,62}"),
        (names.resource_name, r"[A-Za-z0-9][A-Za-z0-9_-]{0,254}"),
    ],
)
@given(text=st.text(alphabet=string.printable + "é→-—.", max_size=300))
def test_names_of_other_systems_always_become_valid_mlspec_names(
    convert: object, pattern: str, text: str
) -> None:
    assert callable(convert)
    assert re.fullmatch(pattern, convert(text))
