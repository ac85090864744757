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
from mlspec.domain.common.resources import ACTIVE, ARCHIVED, DEPRECATED, Resources
from mlspec.errors import FieldViolation
from mlspec.tracking.v1 import experiment_pb2, run_pb2

K = reference_pb2.ResourceKind
DEFAULT_EXPERIMENT = "Default"
ALL_STATUSES = (ACTIVE, DEPRECATED, ARCHIVED)

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
        created = res.create(
            experiment, "experiment", derive=lambda m: _derive_experiment(res, m, "experiment")
        )
        return created.meta.id


def tracking_run_for(res: Resources, kind: int, experiment_id: str, **links: str) -> run_pb2.Run:
    """Creates the tracking Run record that a pipeline run or step run is.

    ``links`` are its ids (``pipeline_run_id``, ``step_run_id``, ``parent_run_id``: a
    step's tracking run is a child of its pipeline run's).
    """
    run = run_pb2.Run(kind=kind, experiment_id=experiment_id or default_experiment(res), **links)  # type: ignore[arg-type]
    stored = res.create(run, "run", derive=lambda m: _derive_run(res, m, "run"))
    assert isinstance(stored, run_pb2.Run)
    refresh_run_parents(res, stored)
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


def _prepare_run(_res: Resources, run: run_pb2.Run, path: str) -> None:
    """At most 100 params and 100 tags, and distinct param keys (as LogParams and SetRunTags)."""
    found = []
    for name, count in (("params", len(run.params)), ("tags", len(run.tags))):
        if count > MAX_RUN_ITEMS:
            found.append(FieldViolation(f"{path}.{name}", f"holds {count} items; at most 100"))
    seen: dict[str, int] = {}
    for i, param in enumerate(run.params):
        first = seen.setdefault(param.key, i)
        if first != i:
            found.append(
                FieldViolation(f"{path}.params[{i}].key", f"{param.key!r} is also params[{first}]")
            )
    if found:
        raise errors.not_valid("the run is not valid", found, "INVALID_RUN")


MAX_RUN_ITEMS = 100


def _derive_run(res: Resources, run: run_pb2.Run, _path: str) -> None:
    """The first state, and what the server fills: name, submission, artifact URI."""
    start_run(run, imported=res.scope.importing)
    created = run.meta.create_time
    if not run.meta.name:
        stamp = created.ToDatetime().strftime("%Y%m%d-%H%M%S")
        run.meta.name = f"run-{stamp}-{run.meta.id[:8]}"
    if not run.HasField("submit_time"):
        run.submit_time.CopyFrom(created)
    if not run.submitter_id and res.scope.creator:
        run.submitter_id = res.scope.creator
    experiment = res.get(K.RESOURCE_KIND_EXPERIMENT, run.experiment_id).message
    assert isinstance(experiment, experiment_pb2.Experiment)
    if experiment.artifact_location and not run.artifact_uri:  # an import keeps its own
        run.artifact_uri = f"{experiment.artifact_location.rstrip('/')}/{run.meta.id}/"


def refresh_run_parents(res: Resources, run: run_pb2.Run) -> None:
    """The experiment's run count and last run time; the parent run's child list."""
    loaded = res.get(K.RESOURCE_KIND_EXPERIMENT, run.experiment_id)
    assert isinstance(loaded.message, experiment_pb2.Experiment)
    experiment = experiment_pb2.Experiment()
    experiment.CopyFrom(loaded.message)
    experiment.run_count = res.count(K.RESOURCE_KIND_RUN, run.experiment_id)
    newest = res.latest_in_scope(K.RESOURCE_KIND_RUN, run.experiment_id, ALL_STATUSES)
    if newest is not None:
        experiment.last_run_time.CopyFrom(newest.meta.create_time)
    res.save_if_changed(loaded, experiment)
    if run.parent_run_id:
        parent = res.get(K.RESOURCE_KIND_RUN, run.parent_run_id)
        assert isinstance(parent.message, run_pb2.Run)
        if run.meta.id not in parent.message.child_run_ids:
            updated = copy_of(parent.message)
            updated.child_run_ids.append(run.meta.id)
            res.save(parent, updated)


def copy_of(run: run_pb2.Run) -> run_pb2.Run:
    """A changeable copy of a run."""
    updated = run_pb2.Run()
    updated.CopyFrom(run)
    return updated


def _derive_experiment(res: Resources, experiment: experiment_pb2.Experiment, _path: str) -> None:
    """The server's default artifact location: one folder of the workspace per experiment."""
    if not experiment.artifact_location:
        experiment.artifact_location = (
            f"mlspec://{res.scope.workspace}/experiments/{experiment.meta.id}/"
        )


RULES = {
    "mlspec.tracking.v1.Run": KindRules(
        prepare=_prepare_run, derive=_derive_run, update=_update_run, refresh=refresh_run_parents
    ),
    "mlspec.tracking.v1.Experiment": KindRules(derive=_derive_experiment),
}
