"""Alerts the service raises itself: found again by what they are about, not duplicated.

A condition that keeps holding (a drift the schedule measures every few minutes, a
rollback that stays in force) fires the alert it already raised again (``fire_count``,
``last_fire_time``, ``observed_value``, ``signal_ids``) instead of raising a new one,
until a person resolves or archives it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from mlspec.common.v1 import reference_pb2
from mlspec.domain.clock import micros_to_timestamp, now_micros
from mlspec.domain.common.kinds import indexed_members
from mlspec.domain.common.resources import ACTIVE, DEPRECATED, Loaded, Resources
from mlspec.monitoring.v1 import alert_pb2, signals_pb2
from mlspec.query import And, Comparison, Node
from mlspec.store.api import FieldSpec

K = reference_pb2.ResourceKind
RESOLVED = alert_pb2.ALERT_STATE_RESOLVED
# How a filter over alerts maps onto their indexed fields.
MEMBERS = {
    name: FieldSpec(kind, values)
    for name, (kind, values) in indexed_members("mlspec.monitoring.v1.Alert").items()
}


def open_alerts(
    res: Resources,
    model_id: str,
    *,
    policy_id: str = "",
    action: int | None = None,
    keep: Callable[[alert_pb2.Alert], bool] = lambda alert: True,
) -> list[Loaded]:
    """The alerts of a model version that are not resolved or archived, newest first."""
    conditions: list[Node] = [Comparison(("model_version", "id"), "=", model_id)]
    if policy_id:
        conditions.append(Comparison(("rollback_policy", "id"), "=", policy_id))
    if action is not None:
        conditions.append(
            Comparison(("action_taken",), "=", alert_pb2.AlertAction.Name(action))  # type: ignore[arg-type]
        )
    query = res.query(
        K.RESOURCE_KIND_ALERT,
        statuses=(ACTIVE, DEPRECATED),
        filter=And(tuple(conditions)) if len(conditions) > 1 else conditions[0],
        members=MEMBERS,
        page_size=100,
    )
    found = []
    for record in res.list_page(query).records:
        loaded = res.get(K.RESOURCE_KIND_ALERT, record.id)
        alert = loaded.message
        assert isinstance(alert, alert_pb2.Alert)
        if alert.state != RESOLVED and keep(alert):
            found.append(loaded)
    found.sort(key=lambda a: a.record.update_time, reverse=True)
    return found


def fire(
    res: Resources,
    alert: alert_pb2.Alert,
    existing: Loaded | None,
    observed: float,
    signal_ids: Iterable[str] = (),
) -> alert_pb2.Alert:
    """Raises ``alert``, or fires ``existing`` (the same condition, still open) again."""
    ids = list(signal_ids)
    if existing is None:

        def derive(message: alert_pb2.Alert) -> None:
            message.state = message.state or alert_pb2.ALERT_STATE_FIRING
            message.first_fire_time.CopyFrom(message.meta.create_time)
            message.last_fire_time.CopyFrom(message.meta.create_time)
            message.fire_count = 1
            message.observed_value = observed
            message.signal_ids.extend(ids[:100])

        return res.create(alert, "alert", derive=derive)
    again = alert_pb2.Alert()
    assert isinstance(existing.message, alert_pb2.Alert)
    again.CopyFrom(existing.message)
    again.last_fire_time.CopyFrom(micros_to_timestamp(now_micros()))
    again.fire_count += 1
    again.observed_value = observed
    if ids:
        kept = [*ids, *again.signal_ids][:100]
        del again.signal_ids[:]
        again.signal_ids.extend(kept)
    if alert.action_taken and alert.action_taken != again.action_taken:
        again.action_taken = alert.action_taken
    return res.save(existing, again)


def fire_unwatched(
    res: Resources,
    model_id: str,
    signal: Any,
    condition: alert_pb2.SignalCondition,
    deployment_endpoint: str,
) -> alert_pb2.Alert:
    """Raises (or fires again) the alert of a failing signal that no rollback policy watches.

    One alert per model version and condition (signal type, name, comparator) stays open
    until a person resolves it; the schedule fires it again while the signal keeps failing.
    """

    def same(alert: alert_pb2.Alert) -> bool:
        c = alert.condition
        return not alert.rollback_policy.id and (c.signal_type, c.signal_name, c.comparator) == (
            condition.signal_type,
            condition.signal_name,
            condition.comparator,
        )

    existing = open_alerts(res, model_id, keep=same)
    alert = alert_pb2.Alert(
        severity=alert_pb2.ALERT_SEVERITY_WARNING, deployment_endpoint=deployment_endpoint
    )
    alert.condition.CopyFrom(condition)
    alert.model_version.kind = K.RESOURCE_KIND_MODEL_VERSION
    alert.model_version.id = model_id
    alert.meta.description = (
        f"{signals_pb2.SignalType.Name(condition.signal_type).removeprefix('SIGNAL_TYPE_').lower()} "
        f"signal {condition.signal_name!r} is beyond its threshold"
    )
    return fire(res, alert, existing[0] if existing else None, signal.value, [signal.signal_id])
