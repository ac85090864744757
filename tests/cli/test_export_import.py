"""``mlspec export`` and ``mlspec import``: a run's workflow metadata file, and back.

A run exported from one workspace recreates its definition in another (experiment, a
PENDING run with its parameters and tags, the stored file); importing twice adds nothing.
``mlspec import`` is a group: an importer added as a subcommand runs, and a FILE still
means the documents' import.
"""

from __future__ import annotations

import json
import pathlib

import click
import pytest
import yaml

from mlspec import yaml_format
from mlspec.cli.import_commands import import_group
from mlspec.client import Client
from mlspec.client.values import from_value
from mlspec.metadata.v1 import metadata_service_pb2, workflow_metadata_pb2
from mlspec.tracking.v1 import tracking_service_pb2

from .conftest import EXAMPLES, invoke, one_error_line

WORKFLOW = str(EXAMPLES / "metadata" / "workflow.yaml")
RUN = "ticket-intent/ticket-intent-classifier-finetune"


def ok(target: str, *args: str) -> str:
    result = invoke("--server", target, *args)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_export_then_import_into_another_workspace(seeded: str, tmp_path: pathlib.Path) -> None:
    ok(seeded, "import", WORKFLOW)
    exported = tmp_path / "run.yaml"
    said = ok(seeded, "export", RUN, "-f", str(exported))
    assert said.startswith(f"wrote {exported}: the workflow metadata of run ")
    text = exported.read_text(encoding="utf-8")
    assert text.startswith("# message: mlspec.metadata.v1.WorkflowMetadata\n")
    assert invoke("validate", str(exported)).exit_code == 0
    metadata = yaml_format.load(text, workflow_metadata_pb2.WorkflowMetadata())
    original = yaml_format.load(
        pathlib.Path(WORKFLOW).read_text(encoding="utf-8"), workflow_metadata_pb2.WorkflowMetadata()
    )
    assert metadata.training == original.training
    assert metadata.model.name == original.model.name == "ticket-intent-classifier"
    assert from_value(metadata.properties["tracking_run"]) == "ticket-intent-classifier-finetune"
    params = from_value(metadata.properties["run_params"])
    assert isinstance(params, dict)
    assert params["learning_rate"] == 5e-05 and params["batch_size"] == 32

    first = invoke(
        "--server", seeded, "--workspace", "staging", "-o", "json", "import", str(exported)
    )
    assert first.exit_code == 0, first.stderr
    # The staging workspace has no ticket-intent-classifier model nor support-tickets data.
    assert first.stderr.count("not on this server; left out of the record") == 2
    outcomes = json.loads(first.stdout)
    assert [(o["kind"], o["result"]) for o in outcomes] == [
        ("experiment", "created"),
        ("run", "created"),
        ("workflow-metadata-record", "created"),
    ]
    again = invoke(
        "--server", seeded, "--workspace", "staging", "-o", "json", "import", str(exported)
    )
    assert [o["result"] for o in json.loads(again.stdout)] == ["exists"] * 3
    assert [o["id"] for o in json.loads(again.stdout)] == [o["id"] for o in outcomes]

    with Client(seeded, workspace="staging") as client:
        run = client.tracking.GetRun(tracking_service_pb2.GetRunRequest(id=outcomes[1]["id"])).run
        assert run.state == 1  # RUN_STATE_PENDING: the definition, ready to run
        assert {p.key: from_value(p.value) for p in run.params} == params
        records = client.metadata.ListWorkflowMetadataRecords(
            metadata_service_pb2.ListWorkflowMetadataRecordsRequest()
        ).workflow_metadata_records
        assert len(records) == 1
        assert records[0].run.id == run.meta.id
        assert records[0].workflow_metadata.training == original.training
        assert not records[0].workflow_metadata.model.HasField("model_ref")
        # And back out of staging: the same file (the references it could not keep aside).
        recreated = ok(seeded, "--workspace", "staging", "export", RUN)
    again_metadata = yaml_format.load(recreated, workflow_metadata_pb2.WorkflowMetadata())
    metadata.model.ClearField("model_ref")
    metadata.datasets[0].ClearField("dataset_ref")
    assert again_metadata == metadata


def test_export_prints_yaml_json_and_writes_json(seeded: str, tmp_path: pathlib.Path) -> None:
    ok(seeded, "import", WORKFLOW)
    as_yaml = ok(seeded, "export", RUN)
    assert as_yaml.startswith("# message: mlspec.metadata.v1.WorkflowMetadata\n")
    as_json = ok(seeded, "-o", "json", "export", RUN)
    assert json.loads(as_json) == yaml.safe_load(as_yaml)  # pure JSON: no comment line
    assert ok(seeded, "export", RUN, "-o", "json") == as_json
    target = tmp_path / "run.json"
    record = json.loads(ok(seeded, "-o", "json", "export", RUN, "-f", str(target)))
    assert record["file"] == str(target) and record["run"] == RUN.split("/")[1]
    assert json.loads(target.read_text(encoding="utf-8")) == json.loads(as_json)
    message = "mlspec.metadata.v1.WorkflowMetadata"
    assert invoke("validate", "-m", message, str(target)).exit_code == 0
    assert yaml.safe_load(ok(seeded, "-o", "yaml", "export", RUN, "-f", str(target)))["file"]


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_what_export_writes_imports_in_either_format(
    seeded: str, tmp_path: pathlib.Path, suffix: str
) -> None:
    ok(seeded, "import", WORKFLOW)
    exported = tmp_path / f"run{suffix}"
    ok(seeded, "export", RUN, "-f", str(exported))
    workspace = f"roundtrip-{suffix[1:]}"
    first = json.loads(ok(seeded, "--workspace", workspace, "-o", "json", "import", str(exported)))
    assert [o["result"] for o in first] == ["created"] * 3
    again = ok(seeded, "--workspace", workspace, "export", RUN)
    original = yaml_format.load(ok(seeded, "export", RUN), workflow_metadata_pb2.WorkflowMetadata())
    copied = yaml_format.load(again, workflow_metadata_pb2.WorkflowMetadata())
    assert copied.training == original.training and copied.name == original.name


def test_a_file_without_a_message_line_imports_as_workflow_metadata(tmp_path: pathlib.Path) -> None:
    dataset = tmp_path / "dataset.json"
    dataset.write_text('{"meta": {"name": "churn"}}')
    line = one_error_line(invoke("import", str(dataset)))
    assert line == (
        f"mlspec: {dataset}:1:2: unknown field 'meta' in mlspec.metadata.v1.WorkflowMetadata "
        "(a file without a '# message:' first line is read as one; name the message of "
        "other documents there)"
    )


def test_a_run_without_a_file_exports_what_it_records(seeded: str) -> None:
    result = invoke("--server", seeded, "export", "churn/churn-weekly-2026-03-02")
    assert result.exit_code == 0
    assert result.stderr == (
        "warning: run churn-weekly-2026-03-02 does not record framework, model, datasets, "
        "training; fill them in before importing the file\n"
    )
    metadata = yaml_format.load(result.stdout, workflow_metadata_pb2.WorkflowMetadata())
    assert metadata.name == "churn-weekly-2026-03-02"
    assert from_value(metadata.properties["tracking_experiment"]) == "churn"
    assert from_value(metadata.properties["run_tags"]) == {"schedule": "weekly"}


def test_an_incomplete_file_does_not_import(seeded: str, tmp_path: pathlib.Path) -> None:
    exported = tmp_path / "weekly.yaml"
    ok(seeded, "export", "churn-weekly-2026-03-02", "-f", str(exported))
    line = one_error_line(invoke("--server", seeded, "import", str(exported)))
    assert line.startswith(f"mlspec: {exported}:2:1: INVALID_ARGUMENT: the workflow metadata is")
    assert "framework" in line


def test_an_unknown_run_is_one_line(seeded: str) -> None:
    line = one_error_line(invoke("--server", seeded, "export", "no-such-run"))
    assert line == "mlspec: NOT_FOUND: no Run named 'no-such-run'"


@pytest.fixture
def with_a_subcommand() -> object:
    @click.command("shout")
    @click.argument("word")
    def shout(word: str) -> None:
        click.echo(word.upper())

    import_group.add_command(shout)
    yield shout
    import_group.commands.pop("shout")


def test_an_importer_joins_the_group_and_files_still_import(
    seeded: str, with_a_subcommand: object, tmp_path: pathlib.Path
) -> None:
    assert ok(seeded, "import", "shout", "kfp") == "KFP\n"
    dataset = tmp_path / "shout"  # a file named like no subcommand
    dataset.write_text("# message: mlspec.data.v1.Dataset\nmeta: {name: from-a-file}\n")
    assert "created" in ok(seeded, "-o", "yaml", "import", str(tmp_path / "shout"))
    help_text = ok(seeded, "import", "--help")
    assert "Usage: mlspec import FILE... | COMMAND [ARGS]..." in help_text
    assert "shout" in help_text
    assert invoke("import").exit_code == 0  # no argument: the help
    line = one_error_line(invoke("--server", seeded, "import", "missing.yaml"))
    assert line.startswith("mlspec: import files: Invalid value for 'FILE...'")


def test_resources_and_requests_import_once(seeded: str, tmp_path: pathlib.Path) -> None:
    documents = tmp_path / "more.yaml"
    documents.write_text(
        "# message: mlspec.tracking.v1.Experiment\n"
        "meta: {name: imported}\n"
        "---\n"
        "# message: mlspec.tracking.v1.Run\n"
        "meta: {name: r-1}\n"
        "experiment_id: imported\n"
        "---\n"
        "# message: mlspec.tracking.v1.SetRunTagsRequest\n"
        "run_id: imported/r-1\n"
        "tags: {team: risk}\n"
    )
    first = json.loads(ok(seeded, "-o", "json", "import", str(documents)))
    assert [(o["kind"], o["result"]) for o in first] == [
        ("experiment", "created"),
        ("run", "created"),
        ("SetRunTags", "sent"),
    ]
    again = json.loads(ok(seeded, "-o", "json", "import", str(documents)))
    assert [o["result"] for o in again] == ["exists", "exists", "sent"]
    table = ok(seeded, "import", str(documents)).splitlines()
    assert table[0].split() == ["FILE", "DOCUMENTS", "CREATED", "EXISTING", "SENT"]
    assert table[1].split()[1:] == ["3", "0", "2", "1"]
    with Client(seeded) as client:
        run = client.tracking.GetRun(tracking_service_pb2.GetRunRequest(id=first[1]["id"])).run
    assert dict(run.tags) == {"team": "risk"}
