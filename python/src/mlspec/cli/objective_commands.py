"""``mlspec objectives check FILE`` and ``mlspec gate ID|NAME@VERSION``.

``objectives check`` reads a ``CodifiedObjectives`` (or a stage 1 ``StageReport``) YAML or
JSON file and checks every expression offline, as the service does when the objectives
are stored: each problem is printed as ``FILE:LINE:COLUMN: field: problem`` (the column
is the expression's own when it is written on one line), exit 1 when there is any. A
report of another stage, or a file with no objectives, is an error (exit 1).
``gate`` asks the service (LifecycleService.EvaluateObjectives) what the deployment
gate decides for a model version and why: exit 0 when it passes (or only waits for a
person's approval), 1 when it blocks.
"""

from __future__ import annotations

import pathlib
import re
from typing import Any

import click
import yaml
from google.protobuf.message import Message

from mlspec.cli.connection import open_client
from mlspec.cli.errors import CliError
from mlspec.cli.file_check import check_file
from mlspec.cli.model_versions import METAVAR, model_version_ref
from mlspec.cli.output import render
from mlspec.cli.settings import Settings, pass_settings

__all__ = ["gate", "objectives"]

EXTRA = "objectives check needs the objectives extra: pip install 'mlspec-contract[objectives]'"
_TYPES = {
    "mlspec.lifecycle.v1.CodifiedObjectives": "",
    "mlspec.lifecycle.v1.StageReport": "codified_objectives",
}
_PART = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?")


@click.group()
def objectives() -> None:
    """Codified objectives (lifecycle stage 1)."""


@objectives.command("check")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=pathlib.Path))
@pass_settings
def check(settings: Settings, file: pathlib.Path) -> int:
    """Check the objective expressions of a CodifiedObjectives or stage 1 report file."""
    try:
        from mlspec import objectives as language
    except ModuleNotFoundError as exc:
        raise CliError(EXTRA) from exc
    from google.protobuf import message_factory

    from mlspec import yaml_format
    from mlspec.cli.message_types import find_message_type
    from mlspec.lifecycle.v1 import stage_pb2

    report = check_file(file)
    if report.problems:
        for problem in report.problems:
            click.echo(
                f"{file}:{problem.position.line}:{problem.position.column}: {problem.message}"
            )
        return 1
    text = file.read_text(encoding="utf-8")
    name = text.split("\n", 1)[0].split(":", 1)[1].strip()
    if name not in _TYPES:
        raise CliError(
            f"{file} holds a {name}; objectives check reads a CodifiedObjectives or a StageReport"
        )
    message: Any = message_factory.GetMessageClass(find_message_type(name))()
    yaml_format.load(text, message)
    field = _TYPES[name]
    if field and message.WhichOneof("payload") != field:
        stage = stage_pb2.LifecycleStage.Name(message.stage).removeprefix("LIFECYCLE_STAGE_")
        raise CliError(
            f"{file} is a {stage} report, not a stage 1 (CODIFY_OBJECTIVES) report: it holds "
            "no objectives to check"
        )
    codified = getattr(message, field) if field else message
    if not codified.objectives:
        raise CliError(f"{file} holds no objectives to check")
    _, found = language.check_objectives(codified, field)
    root = next(iter(yaml_format.compose_documents(text)), None)
    for violation in found:
        where = violation.field.lstrip(".")
        line, column = _where(root, where, violation.description)
        click.echo(f"{file}:{line}:{column}: {where}: {violation.description}")
    if not found:
        count = len(codified.objectives)
        click.echo(f"{file}: {count} objective{'s' if count != 1 else ''}: no problems")
    return 1 if found else 0


def _where(root: yaml.Node | None, path: str, description: str) -> tuple[int, int]:
    """The line and column of a violation: its field's node, plus the expression column."""
    node = root
    parts = path.split(".")
    for part in parts:
        match = _PART.fullmatch(part)
        if node is None or match is None or not isinstance(node, yaml.MappingNode):
            break
        found = next((v for k, v in node.value if k.value == match.group(1)), None)
        if (
            found is not None
            and match.group(2) is not None
            and isinstance(found, yaml.SequenceNode)
        ):
            index = int(match.group(2))
            found = found.value[index] if index < len(found.value) else None
        if found is None:
            break
        node = found
    if node is None:
        return 1, 1
    line, column = node.start_mark.line + 1, node.start_mark.column + 1
    at = re.match(r"column (\d+):", description)
    if at and isinstance(node, yaml.ScalarNode) and node.style in (None, "", '"', "'"):
        column += int(at.group(1)) - 1 + (1 if node.style in ('"', "'") else 0)
    return line, column


@click.command()
@click.argument("model_version", metavar=METAVAR)
@pass_settings
def gate(settings: Settings, model_version: str) -> int:
    """Print the deployment gate's decision for a model version (its id or NAME@VERSION).

    Example: 'mlspec gate churn-xgb@7.0.0' (NAME:VERSION works too).
    """
    from mlspec.common.v1 import threshold_pb2
    from mlspec.lifecycle.v1 import deployment_gate_pb2 as pb

    with open_client(settings) as client:
        answer = client.evaluate_objectives(model_version_ref(model_version))
    decision = answer.gate.decision
    passes = decision in (
        pb.DEPLOYMENT_GATE_DECISION_PASSED,
        pb.DEPLOYMENT_GATE_DECISION_NEEDS_APPROVAL,
    )
    if settings.output != "table":
        render(answer, settings.output)
        return 0 if passes else 1
    word = pb.DeploymentGateDecision.Name(decision).removeprefix("DEPLOYMENT_GATE_DECISION_")
    click.echo(f"model version {answer.gate.model_version.id}: {word}")
    outcome = threshold_pb2.ThresholdOutcome.Name
    for evaluation in answer.evaluations:
        stage = _stage_word(evaluation)
        source = f" (report {evaluation.report_id})" if evaluation.report_id else ""
        click.echo(
            f"  {stage}{source}: {outcome(evaluation.outcome).removeprefix('THRESHOLD_OUTCOME_')}"
        )
        for result in evaluation.results:
            if result.checked:
                mark = outcome(result.outcome).removeprefix("THRESHOLD_OUTCOME_")
                click.echo(f"    {mark:<8} {result.objective_id}: {result.message}")
    for failure in answer.gate.failures:
        click.echo(f"  why: {failure.message}")
    return 0 if passes else 1


def _stage_word(evaluation: Message) -> str:
    from mlspec.lifecycle.v1 import stage_pb2

    stage = evaluation.stage  # type: ignore[attr-defined]
    return {
        stage_pb2.LIFECYCLE_STAGE_MODEL_EVALUATION: "evaluation",
        stage_pb2.LIFECYCLE_STAGE_MODEL_TEST: "hold-back test",
    }.get(stage, "deployment")
