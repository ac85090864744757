"""The run state machine shared by tracking runs, pipeline runs and step runs.

A run executes once: PENDING -> RUNNING -> one terminal state, never back, never out of
a terminal state, and never "again" into the state it is in (SPEC.md section 5; the
UpdateRunState contract allows PENDING to RUNNING and any non-terminal state to a
terminal one).
"""

from __future__ import annotations

from mlspec import errors
from mlspec.common.v1 import run_state_pb2

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
