"""Rollback decisions: a model version's rollback policies weighed against its signals.

Each trigger of a policy looks at the signals of its window (its condition's duration,
one hour by default) that match its signal type and name: FAILED when one of them
failed, PASSED when some matched and none failed, MISSING when none matched.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from mlspec.common.v1 import threshold_pb2
from mlspec.domain.clock import micros_to_timestamp
from mlspec.domain.common.resources import Resources
from mlspec.domain.monitoring import serving
from mlspec.domain.monitoring.event_kinds import DRIFT, LIVENESS, PERFORMANCE, SIGNAL_KIND
from mlspec.domain.monitoring.records import micros
from mlspec.domain.monitoring.signals import policies
from mlspec.monitoring.v1 import alert_pb2, signals_pb2
from mlspec.monitoring.v1 import monitoring_service_pb2 as pb

T = threshold_pb2.ThresholdOutcome
DEFAULT_WINDOW_MICROS = 3600 * 1_000_000
SIGNAL_CLASS: dict[int, Any] = {
    DRIFT: signals_pb2.DriftSignal,
    PERFORMANCE: signals_pb2.PerformanceSignal,
    LIVENESS: signals_pb2.LivenessSignal,
}


def evaluate(
    res: Resources, model_id: str, at: int, deployment_endpoint: str, *, dry_run: bool
) -> pb.EvaluateRollbackResponse:
    """Weighs the triggers of the model version's policies against their signal windows.

    Decides KEEP, ROLLBACK (automatic mode) or APPROVAL_REQUIRED (manual mode); a policy
    cooling down after its last rollback keeps. Unless ``dry_run``, the deciding policy
    records the evaluation (and the rollback).
    """
    response = pb.EvaluateRollbackResponse(
        decision=pb.ROLLBACK_DECISION_KEEP, reason="no policy trigger failed"
    )
    protecting = [
        p
        for p in policies(res, model_id)
        if not deployment_endpoint
        or getattr(p.message, "deployment_endpoint", "") in ("", deployment_endpoint)
    ]
    if not protecting:
        raise serving.not_protected(model_id)
    for policy in protecting:
        message = policy.message
        assert isinstance(message, alert_pb2.RollbackPolicy)
        failed = []
        for trigger in message.triggers:
            condition = trigger.condition
            window = (
                condition.duration.ToMicroseconds()
                if condition.HasField("duration")
                else DEFAULT_WINDOW_MICROS
            )
            kinds = (
                [SIGNAL_KIND[condition.signal_type]]
                if condition.signal_type
                else [DRIFT, PERFORMANCE, LIVENESS]
            )
            window_of = (res, kinds, model_id, at - window, at + 1, condition.signal_name)
            failing = list(itertools.islice(_window_signals(*window_of, only_failing=True), 20))
            matching = list(itertools.islice(_window_signals(*window_of), 20))
            evaluation = response.trigger_evaluations.add(
                policy_id=policy.record.id, trigger=trigger
            )
            evaluation.outcome = (
                T.THRESHOLD_OUTCOME_FAILED
                if failing
                else (T.THRESHOLD_OUTCOME_PASSED if matching else T.THRESHOLD_OUTCOME_MISSING)
            )
            evaluation.signal_ids.extend(
                SIGNAL_CLASS[k].FromString(d).signal_id for _, k, d in (failing or matching)[:20]
            )
            if matching:
                value = getattr(
                    SIGNAL_CLASS[matching[0][1]].FromString(matching[0][2]), "value", None
                )
                if value is not None:
                    evaluation.observed_value = value
            if failing:
                failed.append(trigger)
        if not failed:
            continue
        names = ", ".join(t.name or t.condition.signal_name or "trigger" for t in failed)
        response.policy.CopyFrom(message)
        response.target.CopyFrom(message.target)
        cooling = (
            message.HasField("last_rollback_time")
            and message.HasField("cooldown")
            and at - micros(message.last_rollback_time) < message.cooldown.ToMicroseconds()
        )
        if cooling:
            response.decision = pb.ROLLBACK_DECISION_KEEP
            response.reason = f"triggers {names} failed, but policy {policy.record.name} is cooling down after its last rollback"
        elif message.mode == alert_pb2.ROLLBACK_MODE_MANUAL:
            response.decision = pb.ROLLBACK_DECISION_APPROVAL_REQUIRED
            response.reason = f"triggers {names} of policy {policy.record.name} failed; the policy asks for approval"
        else:
            response.decision = pb.ROLLBACK_DECISION_ROLLBACK
            response.reason = f"triggers {names} of policy {policy.record.name} failed"
        if not dry_run:
            updated = alert_pb2.RollbackPolicy()
            updated.CopyFrom(message)
            updated.last_evaluate_time.CopyFrom(micros_to_timestamp(at))
            if response.decision == pb.ROLLBACK_DECISION_ROLLBACK:
                updated.last_rollback_time.CopyFrom(micros_to_timestamp(at))
                updated.rollback_count += 1
            response.policy.CopyFrom(res.save(policy, updated))
            serving.act(res, model_id, policy, response, failed, deployment_endpoint)
        break
    return response


def _name_of(kind: int, data: bytes) -> str:
    signal = SIGNAL_CLASS[kind].FromString(data)
    return str(
        getattr(signal, {DRIFT: "feature", PERFORMANCE: "metric", LIVENESS: "component"}[kind])
    )


def _window_signals(
    res: Resources,
    kinds: list[int],
    model_id: str,
    start: int,
    end: int,
    name: str,
    *,
    only_failing: bool = False,
) -> Iterator[tuple[int, int, bytes]]:
    """(seq, kind, data) of a model's signals in [start, end), newest first, all of them."""
    rows = res.events(
        kinds,
        page=500,
        model_version_id=model_id,
        start_time=start,
        end_time=end,
        only_failing=only_failing,
    )
    for seq, kind, _, data in rows:
        if name in ("", _name_of(kind, data)):
            yield seq, kind, data
