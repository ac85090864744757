"""Rules of alerts and rollback policies (alert.proto) beyond the common ones.

- Alert: unnamed alerts are named `alert-<id>`; a new alert is FIRING unless it says
  otherwise, and its fire times start at its creation. Its state moves as AlertState
  allows: never out of RESOLVED (FAILED_PRECONDITION). Entering ACKNOWLEDGED sets
  `acknowledge_time`, entering RESOLVED sets `resolve_time`. An alert the service raises
  itself is found again by what it is about instead of duplicated: a condition that
  keeps holding (a drift the schedule measures every few minutes, a rollback that stays
  in force) fires the open alert again (``fire_count``, ``last_fire_time``,
  ``observed_value``, ``signal_ids``) until a person resolves or archives it.
- RollbackPolicy: a target given as an `artifact_uri` carries the digest the serving
  system must verify (INVALID_ARGUMENT otherwise); at least one trigger.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from google.protobuf import field_mask_pb2, timestamp_pb2

from mlspec import errors
from mlspec.common.v1 import reference_pb2
from mlspec.domain.clock import micros_to_timestamp, now_micros, now_timestamp
from mlspec.domain.common.hooks import KindRules
from mlspec.domain.common.kinds import indexed_members
from mlspec.domain.common.resources import ACTIVE, DEPRECATED, Loaded, Resources
from mlspec.errors import FieldViolation
from mlspec.monitoring.v1 import alert_pb2, signals_pb2
from mlspec.query import And, Comparison, Node
from mlspec.store.api import FieldSpec

K = reference_pb2.ResourceKind
S = alert_pb2.AlertState


def name_alert(alert: alert_pb2.Alert) -> None:
    """The generated name of an unnamed alert (its id is set by now)."""
    if not alert.meta.name:
        alert.meta.name = f"alert-{alert.meta.id}"


def _derive_alert(_res: Resources, alert: alert_pb2.Alert, _path: str) -> None:
    name_alert(alert)
    if alert.state == S.ALERT_STATE_UNSPECIFIED:
        alert.state = S.ALERT_STATE_FIRING
    created = alert.meta.create_time
    if alert.state != S.ALERT_STATE_PENDING:
        alert.first_fire_time.CopyFrom(created)
        alert.last_fire_time.CopyFrom(created)
        alert.fire_count = 1
    _stamp(alert, S.ALERT_STATE_UNSPECIFIED, created)


def _stamp(alert: alert_pb2.Alert, before: int, when: timestamp_pb2.Timestamp) -> None:
    """Records when the alert entered ACKNOWLEDGED or RESOLVED."""
    if alert.state == before:
        return
    if alert.state == S.ALERT_STATE_ACKNOWLEDGED:
        alert.acknowledge_time.CopyFrom(when)
    elif alert.state == S.ALERT_STATE_RESOLVED:
        alert.resolve_time.CopyFrom(when)


def update_alert(
    res: Resources, incoming: alert_pb2.Alert, mask: field_mask_pb2.FieldMask, path: str
) -> alert_pb2.Alert:
    """The common update, with the state machine and its times (raising rolls it back)."""
    before = res.get(K.RESOURCE_KIND_ALERT, incoming.meta.id, path=f"{path}.meta.id")
    assert isinstance(before.message, alert_pb2.Alert)
    old = before.message.state
    stored = res.update(incoming, mask, path)
    if stored.state == old:
        return stored
    if old == S.ALERT_STATE_RESOLVED:
        raise errors.FailedPrecondition(
            f"alert {stored.meta.id} is RESOLVED; a resolved alert does not change state "
            "(a new breach raises a new alert)",
            reason="INVALID_STATE_TRANSITION",
            resource_type="mlspec.monitoring.v1.Alert",
            resource_name=stored.meta.id,
            violations=[FieldViolation(f"{path}.state", "cannot leave ALERT_STATE_RESOLVED")],
        )
    if stored.state == S.ALERT_STATE_UNSPECIFIED:
        raise errors.invalid(f"{path}.state", "must name a state")
    stamped = alert_pb2.Alert()
    stamped.CopyFrom(stored)
    _stamp(stamped, old, now_timestamp())
    return res.save(res.get(K.RESOURCE_KIND_ALERT, stored.meta.id), stamped)


def _prepare_policy(_res: Resources, policy: alert_pb2.RollbackPolicy, path: str) -> None:
    found = []
    if policy.target.WhichOneof("target") == "artifact_uri" and not policy.target.digest.digests:
        found.append(
            FieldViolation(
                f"{path}.target.digest",
                "is required with artifact_uri: the serving system verifies it before loading",
            )
        )
    if not policy.triggers:
        found.append(FieldViolation(f"{path}.triggers", "is required: at least one trigger"))
    if found:
        raise errors.not_valid("the rollback policy is not valid", found, "INVALID_POLICY")


RULES = {
    "mlspec.monitoring.v1.Alert": KindRules(derive=_derive_alert, update=update_alert),
    "mlspec.monitoring.v1.RollbackPolicy": KindRules(prepare=_prepare_policy),
}


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
            _derive_alert(res, message, "alert")  # the kind's rule: name, state, fire times
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
