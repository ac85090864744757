"""What a rollback decision leaves behind, and what a serving component should serve now.

A ROLLBACK decision raises (or fires again) an alert whose ``action_taken`` is
ALERT_ACTION_ROLLED_BACK and, for a new rollback, records a serving stage report (stage
11, rollout result ROLLED_BACK) in a run of its own: its inputs are the rolled-back model
version and the policy, its output the target, so lineage shows the rollback. An
APPROVAL_REQUIRED decision raises an alert waiting for approval; a person approves it by
setting its ``action_taken`` to ALERT_ACTION_ROLLED_BACK.

``resolve`` answers which model to serve: the model version a deployment was rolled out
with, or the target of the policy whose rollback alert is still open.
"""

from __future__ import annotations

from mlspec import errors
from mlspec.common.v1 import reference_pb2, run_state_pb2
from mlspec.domain.clock import micros_to_timestamp, now_micros
from mlspec.domain.common.resources import Loaded, Resources
from mlspec.domain.lifecycle import neighbours
from mlspec.domain.lifecycle.objectives import gate
from mlspec.domain.monitoring import alerts
from mlspec.domain.tracking import runs
from mlspec.lifecycle.v1 import deployment_gate_pb2, serving_pb2, stage_pb2, stage_report_pb2
from mlspec.models.v1 import model_version_pb2
from mlspec.monitoring.v1 import alert_pb2
from mlspec.monitoring.v1 import monitoring_service_pb2 as pb
from mlspec.tracking.v1 import run_pb2

K = reference_pb2.ResourceKind
A = alert_pb2.AlertAction
D = pb.RollbackDecision


def act(
    res: Resources,
    model_id: str,
    policy: Loaded,
    response: pb.EvaluateRollbackResponse,
    failed: list[alert_pb2.RollbackTrigger],
    deployment_endpoint: str,
) -> None:
    """Records what a ROLLBACK or APPROVAL_REQUIRED decision means (not on a dry run)."""
    if response.decision not in (
        D.ROLLBACK_DECISION_ROLLBACK,
        D.ROLLBACK_DECISION_APPROVAL_REQUIRED,
    ):
        return
    rolled_back = response.decision == D.ROLLBACK_DECISION_ROLLBACK
    action = A.ALERT_ACTION_ROLLED_BACK if rolled_back else A.ALERT_ACTION_ROLLBACK_PENDING_APPROVAL
    message = policy.message
    assert isinstance(message, alert_pb2.RollbackPolicy)
    endpoint = deployment_endpoint or message.deployment_endpoint
    open_now = alerts.open_alerts(
        res,
        model_id,
        policy_id=policy.record.id,
        keep=lambda a: a.action_taken in (A.ALERT_ACTION_ROLLED_BACK, action),
    )
    trigger = failed[0]
    alert = alert_pb2.Alert(
        severity=trigger.alert_severity or alert_pb2.ALERT_SEVERITY_CRITICAL,
        action_taken=action,
        deployment_endpoint=endpoint,
        action_detail=response.reason,
    )
    alert.condition.CopyFrom(trigger.condition)
    alert.model_version.kind = K.RESOURCE_KIND_MODEL_VERSION
    alert.model_version.id = model_id
    alert.rollback_policy.kind = K.RESOURCE_KIND_ROLLBACK_POLICY
    alert.rollback_policy.id = policy.record.id
    alert.meta.description = (
        f"policy {policy.record.name} rolled model version {model_id} back"
        if rolled_back
        else f"policy {policy.record.name} asks for approval to roll model version {model_id} back"
    )
    observed = next(
        (e.observed_value for e in response.trigger_evaluations if e.HasField("observed_value")),
        0.0,
    )
    signal_ids = [i for e in response.trigger_evaluations for i in e.signal_ids]
    in_force = next((a for a in open_now if _action(a) == A.ALERT_ACTION_ROLLED_BACK), None)
    existing = in_force if in_force is not None else (open_now[0] if open_now else None)
    response.alerts.append(alerts.fire(res, alert, existing, observed, signal_ids))
    if rolled_back and in_force is None:
        response.serving_report_id = _serving_report(
            res, model_id, policy, message, endpoint, response.reason
        )


def _action(loaded: Loaded) -> int:
    alert = loaded.message
    assert isinstance(alert, alert_pb2.Alert)
    return alert.action_taken


def _serving_report(
    res: Resources,
    model_id: str,
    policy: Loaded,
    message: alert_pb2.RollbackPolicy,
    endpoint: str,
    reason: str,
) -> str:
    """Records the rollback as a serving stage report, in a run of its own."""
    from mlspec.domain import kind_rules  # the kinds' rules table imports this area's modules

    now = micros_to_timestamp(now_micros())
    run = run_pb2.Run(
        kind=run_pb2.RUN_KIND_OTHER,
        experiment_id=runs.default_experiment(res),
        state=run_state_pb2.RUN_STATE_RUNNING,
    )
    run.meta.description = f"rollback of model version {model_id} by policy {policy.record.name}"
    run.tags["mlspec.rollback_policy"] = policy.record.id
    created = kind_rules.create(res, run, "run")
    assert isinstance(created, run_pb2.Run)
    done = run_pb2.Run()
    done.CopyFrom(created)
    runs.transition(done, run_state_pb2.RUN_STATE_SUCCEEDED, now, reason="rollback recorded")
    res.save(res.get(K.RESOURCE_KIND_RUN, created.meta.id), done)
    report = stage_report_pb2.StageReport(
        stage=stage_pb2.LIFECYCLE_STAGE_MODEL_SERVING,
        run_id=created.meta.id,
        status=stage_report_pb2.STAGE_REPORT_STATUS_WARNED,
    )
    report.start_time.CopyFrom(now)
    report.end_time.CopyFrom(now)
    report.meta.description = reason
    report.inputs.add(
        resource=reference_pb2.ResourceRef(kind=K.RESOURCE_KIND_MODEL_VERSION, id=model_id),
        role="rolled_back",
    )
    report.inputs.add(
        resource=reference_pb2.ResourceRef(
            kind=K.RESOURCE_KIND_ROLLBACK_POLICY, id=policy.record.id
        ),
        role="rollback_policy",
    )
    serving = report.model_serving
    _where_served(res, model_id, endpoint, serving)
    rolled_back = reference_pb2.ResourceRef(kind=K.RESOURCE_KIND_MODEL_VERSION, id=model_id)
    serving.model.CopyFrom(rolled_back)  # ROLLED_BACK: the version whose rollout is undone
    serving.rollout_strategy = serving_pb2.ROLLOUT_STRATEGY_ALL_AT_ONCE
    # Serving components take the target at their next ResolveServingModel.
    serving.transition_status = serving_pb2.SERVING_TRANSITION_STATUS_IN_PROGRESS
    serving.rollout_result = serving_pb2.ROLLOUT_RESULT_ROLLED_BACK
    serving.last_failure.time.CopyFrom(now)
    serving.last_failure.reason = "ROLLBACK_POLICY"
    serving.last_failure.message = reason
    target = message.target
    if target.WhichOneof("target") == "model_version":
        loaded = res.resolve(target.model_version, "target.model_version", for_use=False)
        ref = reference_pb2.ResourceRef(kind=K.RESOURCE_KIND_MODEL_VERSION, id=loaded.record.id)
        report.model_version.CopyFrom(ref)
        report.outputs.add(resource=ref, role="serving")
        serving.rolled_back_to_revision = loaded.record.id
    else:
        serving.rolled_back_to_revision = target.artifact_uri
    _approve_rollback(res, report, policy.record.name, reason)
    stored = kind_rules.create(res, report, "stage_report")
    assert isinstance(stored, stage_report_pb2.StageReport)
    return stored.meta.id


def _approve_rollback(
    res: Resources, report: stage_report_pb2.StageReport, policy: str, reason: str
) -> None:
    """The rollback policy's standing approval, on a rollback the deployment gate would refuse.

    The report serves the rollback target again, so the gate applies to it like to any
    completed serving report. A policy is an operator's decision made in advance: where
    the target does not pass the gate (say it was served before the objectives existed),
    the report records an override in the policy's name with the alert's reason, which
    lineage shows like any other override.
    """
    if not report.HasField("model_version"):
        return
    stage = stage_pb2.LIFECYCLE_STAGE_MODEL_SERVING
    decided, _ = gate.decide(res, report.model_version.id, stage, None)
    if decided.decision == deployment_gate_pb2.DEPLOYMENT_GATE_DECISION_PASSED:
        return
    approval = report.deployment_approval
    approval.approver.name = f"rollback policy {policy}"
    approval.reason = reason or "rollback policy"
    approval.override = True


def _where_served(
    res: Resources, model_id: str, endpoint: str, serving: serving_pb2.ModelServing
) -> None:
    """The endpoint and model name of a rollback: the rolled-back version's own.

    They are those of the newest serving report of the version; without one, the
    deployment endpoint (or the version) as a ``urn:mlspec:`` URI, protocol OTHER, and
    the model's registered name.
    """
    served = neighbours.newest_report(
        res, model_id, stage_pb2.LIFECYCLE_STAGE_MODEL_SERVING, upstream=False
    )
    if served is not None and served.model_serving.endpoint.uri:
        serving.endpoint.CopyFrom(served.model_serving.endpoint)
        serving.model_name = served.model_serving.model_name
        serving.environment = served.model_serving.environment
    else:
        where = f"endpoint:{endpoint}" if endpoint else f"model-version:{model_id}"
        serving.endpoint.uri = f"urn:mlspec:{where}"
        serving.endpoint.protocol = serving_pb2.SERVING_PROTOCOL_OTHER
    if endpoint:
        serving.endpoint.name = endpoint
    if not serving.model_name:
        version = res.get(K.RESOURCE_KIND_MODEL_VERSION, model_id).message
        assert isinstance(version, model_version_pb2.ModelVersion)
        serving.model_name = res.get(K.RESOURCE_KIND_MODEL, version.model_id).record.name


def resolve(
    res: Resources, model: Loaded, deployment_endpoint: str
) -> pb.ResolveServingModelResponse:
    """The model to serve now for a model version: itself, or a rollback target in force."""
    model_id = model.record.id
    for loaded in alerts.open_alerts(res, model_id, action=A.ALERT_ACTION_ROLLED_BACK):
        alert = loaded.message
        assert isinstance(alert, alert_pb2.Alert)
        if deployment_endpoint and alert.deployment_endpoint not in ("", deployment_endpoint):
            continue
        if not alert.rollback_policy.id:
            continue
        policy = res.get(K.RESOURCE_KIND_ROLLBACK_POLICY, alert.rollback_policy.id)
        message = policy.message
        assert isinstance(message, alert_pb2.RollbackPolicy)
        response = pb.ResolveServingModelResponse(
            rolled_back=True,
            policy=message,
            alert=alert,
            reason=f"rollback by policy {policy.record.name} is in force (alert {loaded.record.id}); "
            "resolve the alert to serve the model version again",
        )
        response.serve.CopyFrom(message.target)
        if message.target.WhichOneof("target") == "model_version":
            target = res.resolve(message.target.model_version, "policy.target", for_use=False)
            response.model_version_id = target.record.id
            _with_artifact(response.serve, target)
        return response
    response = pb.ResolveServingModelResponse(
        model_version_id=model_id, reason="no rollback of this model version is in force"
    )
    response.serve.model_version.kind = K.RESOURCE_KIND_MODEL_VERSION
    response.serve.model_version.id = model_id
    _with_artifact(response.serve, model)
    return response


def _with_artifact(target: alert_pb2.RollbackTarget, model: Loaded) -> None:
    """Adds the model version's artifact digest to a target (what the server must load)."""
    version = model.message
    if isinstance(version, model_version_pb2.ModelVersion) and not target.digest.digests:
        target.digest.CopyFrom(version.artifact.digest)


def not_protected(model_id: str) -> errors.NotFound:
    """NOT_FOUND for a model version no active rollback policy protects."""
    return errors.NotFound(
        f"no active rollback policy protects model version {model_id}",
        reason="NO_ROLLBACK_POLICY",
        resource_type="mlspec.monitoring.v1.RollbackPolicy",
        resource_name=model_id,
    )
