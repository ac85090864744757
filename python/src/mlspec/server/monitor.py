"""The service's scheduled monitoring: drift, live performance and rollback, unasked.

Every ``--monitor-interval`` seconds, for every model version that an active rollback
policy protects (in every workspace), the service computes the drift of its features
over the last hour and its live performance over the last day (stored as signals, like
ComputeDrift and ComputeLivePerformance), then evaluates its rollback policies like
EvaluateRollback (a rollback it decides raises its alert and records its serving
report). Each step runs in a write transaction of its own and leaves an entry in the
audit trail under the principal ``mlspec-monitor``; a step that cannot run (no training
statistics yet, no prediction) is skipped and logged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from mlspec import errors
from mlspec.common.v1 import reference_pb2
from mlspec.domain.clock import micros_to_timestamp, now_micros
from mlspec.domain.common.policy import Policy
from mlspec.domain.common.resources import ACTIVE, DEPRECATED, Loaded, RequestScope, Resources
from mlspec.domain.monitoring import computed, rollback
from mlspec.monitoring.v1 import alert_pb2
from mlspec.monitoring.v1 import monitoring_service_pb2 as pb
from mlspec.server.errors import code_name
from mlspec.store.api import AuditRow, Store

log = logging.getLogger("mlspec.server")
K = reference_pb2.ResourceKind
PRINCIPAL = "mlspec-monitor"
SERVICE = "/mlspec.monitoring.v1.MonitoringService/"
HOUR = 3600 * 1_000_000
DAY = 24 * HOUR
Step = Callable[[Resources, Loaded, int], object]


def _drift(res: Resources, model: Loaded, now: int) -> object:
    request = pb.ComputeDriftRequest()
    request.window.start_time.CopyFrom(micros_to_timestamp(now - HOUR))
    request.window.end_time.CopyFrom(micros_to_timestamp(now))
    return computed.compute_drift(res, model, request)


def _performance(res: Resources, model: Loaded, now: int) -> object:
    request = pb.ComputeLivePerformanceRequest()
    request.window.start_time.CopyFrom(micros_to_timestamp(now - DAY))
    request.window.end_time.CopyFrom(micros_to_timestamp(now))
    return computed.compute_performance(res, model, request)


def _rollback(res: Resources, model: Loaded, now: int) -> object:
    return rollback.evaluate(res, model.record.id, now, "", dry_run=False)


STEPS: tuple[tuple[str, Step], ...] = (
    ("ComputeDrift", _drift),
    ("ComputeLivePerformance", _performance),
    ("EvaluateRollback", _rollback),
)


class Monitor:
    """Runs the scheduled monitoring on a thread of its own, every ``interval`` seconds."""

    def __init__(self, store: Store, policy: Policy, interval: float) -> None:
        """Binds the store and the rules' policy; ``start`` begins the schedule."""
        self.store = store
        self.policy = policy
        self.interval = interval
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Starts the schedule (the first round runs one interval from now)."""
        self._thread = threading.Thread(target=self._loop, name="mlspec-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stops the schedule; a round under way finishes its current step first."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                self.run_once()
            except Exception:  # a round that fails must not end the schedule
                log.exception("scheduled monitoring round failed")

    def run_once(self) -> int:
        """One round over every protected model version; returns how many were monitored."""
        with self.store.transaction(write=False) as tx:
            workspaces = tx.workspaces_with(K.RESOURCE_KIND_ROLLBACK_POLICY)
        done = 0
        for workspace in workspaces:
            for model_id in self._protected(workspace):
                if self._stopped.is_set():
                    return done
                for method, step in STEPS:
                    self._run(workspace, model_id, method, step)
                done += 1
        return done

    def _scope(self, workspace: str) -> RequestScope:
        return RequestScope(workspace=workspace, creator=PRINCIPAL)

    def _protected(self, workspace: str) -> list[str]:
        """The model versions active, not suspended rollback policies protect."""
        found: list[str] = []
        with self.store.transaction(write=False) as tx:
            res = Resources(tx, self._scope(workspace), self.policy)
            query = res.query(K.RESOURCE_KIND_ROLLBACK_POLICY, statuses=(ACTIVE, DEPRECATED))
            for record in res.list_page(query).records:
                policy = alert_pb2.RollbackPolicy.FromString(record.data)
                if policy.suspended:
                    continue
                try:
                    model = res.resolve(policy.model_version, "model_version", for_use=False)
                except errors.DomainError:
                    continue
                if model.record.id not in found:
                    found.append(model.record.id)
        return found

    def _run(self, workspace: str, model_id: str, method: str, step: Step) -> None:
        scope = self._scope(workspace)
        try:
            with self.store.transaction(write=True) as tx:
                res = Resources(tx, scope, self.policy)
                model = res.get(K.RESOURCE_KIND_MODEL_VERSION, model_id)
                step(res, model, now_micros())
                tx.append_audit([self._entry(scope, method, model_id, "OK")])
        except errors.DomainError as exc:
            log.info("scheduled %s of model version %s skipped: %s", method, model_id, exc)
            if not isinstance(exc, (errors.FailedPrecondition, errors.NotFound)):
                self._record_failure(scope, method, model_id, exc)
        except Exception as exc:
            log.exception("scheduled %s of model version %s failed", method, model_id)
            self._record_failure(scope, method, model_id, exc)

    def _entry(
        self, scope: RequestScope, method: str, model_id: str, code: str, message: str = ""
    ) -> AuditRow:
        return AuditRow(
            workspace=scope.workspace,
            time=now_micros(),
            principal=PRINCIPAL,
            method=SERVICE + method,
            resource_id=model_id,
            request_id="",
            code=code,
            message=" ".join(message.split())[:512],
        )

    def _record_failure(
        self, scope: RequestScope, method: str, model_id: str, exc: BaseException
    ) -> None:
        entry = self._entry(scope, method, model_id, code_name(exc), str(exc))
        try:
            with self.store.transaction(write=True) as tx:
                tx.append_audit([entry])
        except Exception:  # a failed audit write must not end the monitoring round
            log.exception(
                "could not record the failed %s of %s in the audit trail", method, model_id
            )
