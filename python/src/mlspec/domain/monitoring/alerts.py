"""Rules of alerts and rollback policies (alert.proto) beyond the common ones.

- Alert: unnamed alerts are named `alert-<id>`; a new alert is FIRING unless it says
  otherwise, and its fire times start at its creation. Its state moves as AlertState
  allows: never out of RESOLVED (FAILED_PRECONDITION). Entering ACKNOWLEDGED sets
  `acknowledge_time`, entering RESOLVED sets `resolve_time`.
- RollbackPolicy: a target given as an `artifact_uri` carries the digest the serving
  system must verify (INVALID_ARGUMENT otherwise); at least one trigger.
"""

from __future__ import annotations

from google.protobuf import field_mask_pb2, timestamp_pb2

from mlspec import errors
from mlspec.common.v1 import reference_pb2
from mlspec.domain.clock import now_timestamp
from mlspec.domain.common.hooks import KindRules
from mlspec.domain.common.resources import Resources
from mlspec.errors import FieldViolation
from mlspec.monitoring.v1 import alert_pb2

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
