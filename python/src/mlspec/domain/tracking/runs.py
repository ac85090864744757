"""Runs: the state machine of every kind of run, and the rules of tracking runs.

The state machine is shared by tracking runs, pipeline runs and step runs; the rules of
mlspec.tracking.v1.Run cover creation (the first state) and UpdateRun.

A run executes once: PENDING -> RUNNING -> one terminal state, never back, never out of
a terminal state, and never "again" into the state it is in (SPEC.md section 5; the
UpdateRunState contract allows PENDING to RUNNING and any non-terminal state to a
terminal one).
"""

from __future__ import annotations

from typing import Any

from google.protobuf import field_mask_pb2, timestamp_pb2
from google.protobuf.message import Message

from mlspec import errors
from mlspec.common.v1 import reference_pb2, run_state_pb2
from mlspec.domain.common import field_behavior
from mlspec.domain.common.hooks import KindRules
from mlspec.domain.common.resources import Resources
from mlspec.errors import FieldViolation
from mlspec.tracking.v1 import experiment_pb2, run_pb2

K = reference_pb2.ResourceKind
DEFAULT_EXPERIMENT = "Default"

S = run_state_pb2.RunState
TERMINAL = frozenset(
    {
        S.RUN_STATE_SUCCEEDED,
        S.RUN_STATE_FAILED,
        S.RUN_STATE_CANCELLED,
        S.RUN_STATE_CACHED,
        S.RUN_STATE_SKIPPED,
    }
)
_ORDER: dict[int, int] = {
    S.RUN_STATE_UNSPECIFIED: 0,
    S.RUN_STATE_PENDING: 0,
    S.RUN_STATE_RUNNING: 1,
}


def _name(state: int) -> str:
    return S.DESCRIPTOR.values_by_number[state].name


def check_transition(current: int, target: int, path: str = "state") -> None:
    """Raises unless a run in ``current`` may move to ``target``."""
    if target == S.RUN_STATE_UNSPECIFIED:
        raise errors.invalid(path, "must name a state")
    if current in TERMINAL:
        raise errors.FailedPrecondition(
            f"the run is already {_name(current)}; a run executes once and cannot move to {_name(target)}",
            reason="RUN_TERMINAL",
        )
    if current == target:
        raise errors.FailedPrecondition(
            f"the run is already {_name(current)}", reason="RUN_STATE_UNCHANGED"
        )
    if target not in TERMINAL and _ORDER.get(target, 0) < _ORDER.get(current, 0):
        raise errors.FailedPrecondition(
            f"a run cannot go back from {_name(current)} to {_name(target)}",
            reason="RUN_STATE_BACKWARDS",
        )


def is_terminal(state: int) -> bool:
    """Whether a state ends the run."""
    return state in TERMINAL


def transition(
    run: Any,
    state: int,
    when: timestamp_pb2.Timestamp,
    *,
    reason: str = "",
    message: str = "",
    error: Message | None = None,
) -> None:
    """Moves a run (Run, PipelineRun or StepRun) to ``state``, in place; the one way runs move.

    Checks the move (``check_transition``), records it in ``state_history`` (a tracking
    run's history names both states, a pipeline or step run's the new one), sets
    ``start_time`` when the run starts and ``end_time`` when it ends, and keeps ``error``.
    """
    check_transition(run.state, state)
    if "to_state" in run.DESCRIPTOR.fields_by_name["state_history"].message_type.fields_by_name:
        run.state_history.add(from_state=run.state, to_state=state, time=when, reason=reason)
    else:
        run.state_history.add(state=state, time=when, reason=reason, message=message)
    run.state = state
    if state == S.RUN_STATE_RUNNING and not run.HasField("start_time"):
        run.start_time.CopyFrom(when)
    if is_terminal(state):
        run.end_time.CopyFrom(when)
    if error is not None:
        run.error.CopyFrom(error)


def start_run(run: run_pb2.Run, *, imported: bool = False) -> None:
    """A new run starts PENDING (the default) or RUNNING, with its first state change.

    An imported run (ResourceService.ImportResource) may start in any state, as the source
    system recorded it.
    """
    if run.state == run_state_pb2.RUN_STATE_UNSPECIFIED:
        run.state = run_state_pb2.RUN_STATE_PENDING
    if imported:
        if (
            run.HasField("start_time")
            and run.HasField("end_time")
            and run.end_time.ToNanoseconds() < run.start_time.ToNanoseconds()
        ):
            raise errors.invalid("run.end_time", "is before start_time")
    elif run.state not in (run_state_pb2.RUN_STATE_PENDING, run_state_pb2.RUN_STATE_RUNNING):
        raise errors.invalid(
            "run.state", "a new run is PENDING (the default) or RUNNING; use UpdateRunState after"
        )
    run.state_history.add(to_state=run.state, time=run.meta.create_time)


def default_experiment(res: Resources) -> str:
    """The id of the workspace's `Default` experiment, created on first use."""
    try:
        return res.get_by_name(K.RESOURCE_KIND_EXPERIMENT, DEFAULT_EXPERIMENT).record.id
    except errors.NotFound:
        experiment = experiment_pb2.Experiment()
        experiment.meta.name = DEFAULT_EXPERIMENT
        experiment.meta.description = "Runs submitted without an experiment."
        created = res.create(experiment, "experiment")
        return created.meta.id


def tracking_run_for(res: Resources, kind: int, experiment_id: str, **links: str) -> run_pb2.Run:
    """Creates the tracking Run record that a pipeline run or step run is."""
    run = run_pb2.Run(kind=kind, experiment_id=experiment_id or default_experiment(res), **links)  # type: ignore[arg-type]
    stored = res.create(run, "run", derive=start_run)
    assert isinstance(stored, run_pb2.Run)
    return stored


# Fields of a tracking Run that UpdateRun may change: always, and while it is running.
RUN_ALWAYS_MUTABLE = frozenset({"meta.description", "meta.labels", "tags", "properties"})
RUN_MUTABLE_WHILE_OPEN = frozenset({"logs", "source", "environment", "end_time"})


def _update_run(
    res: Resources, run: run_pb2.Run, mask: field_mask_pb2.FieldMask, path: str
) -> Message:
    """UpdateRun changes what describes a run; its state moves through UpdateRunState."""
    current = res.get(K.RESOURCE_KIND_RUN, run.meta.id, path=f"{path}.meta.id")
    assert isinstance(current.message, run_pb2.Run)
    paths = list(mask.paths)
    if not paths:
        before, after = run_pb2.Run(), run_pb2.Run()
        before.CopyFrom(current.message)
        after.CopyFrom(run)
        field_behavior.clear_output_only(before)
        field_behavior.clear_output_only(after)
        paths = _changed_paths(before, after)
    allowed = RUN_ALWAYS_MUTABLE | RUN_MUTABLE_WHILE_OPEN
    inside = field_behavior.paths_within(paths, allowed)
    bad = [p for p in paths if p not in inside]
    if bad:
        raise errors.InvalidArgument(
            "UpdateRun changes only description, labels, tags, properties, logs, source, "
            "environment and end_time; state changes go through UpdateRunState",
            reason="FIELD_NOT_UPDATABLE",
            violations=[
                FieldViolation(f"{path}.{p}", "cannot be changed by UpdateRun") for p in bad
            ],
        )
    frozen = field_behavior.paths_within(paths, RUN_MUTABLE_WHILE_OPEN)
    if frozen and is_terminal(current.message.state):
        raise errors.FailedPrecondition(
            f"run {run.meta.id} has finished; {', '.join(frozen)} can no longer change",
            reason="RUN_TERMINAL",
            violations=[
                FieldViolation(f"{path}.{p}", "is frozen once the run has finished") for p in frozen
            ],
        )
    return res.update(run, mask, path)


def _changed_paths(old: Message, new: Message) -> list[str]:
    """Top-level fields (and meta sub-fields) that differ between two messages."""
    changed = []
    for fd in new.DESCRIPTOR.fields:
        if fd.name == "meta":
            changed += [
                f"meta.{m}"
                for m in ("name", "description", "labels")
                if getattr(old.meta, m) != getattr(new.meta, m)  # type: ignore[attr-defined]
            ]
        elif getattr(old, fd.name) != getattr(new, fd.name):
            changed.append(fd.name)
    return changed


def _derive_run(res: Resources, run: run_pb2.Run, _path: str) -> None:
    start_run(run, imported=res.scope.importing)


RULES = {"mlspec.tracking.v1.Run": KindRules(derive=_derive_run, update=_update_run)}
