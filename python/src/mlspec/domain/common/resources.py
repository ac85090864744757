"""The common object rules of SPEC.md section 2, enforced once for every resource kind.

``Resources`` is what every servicer calls to create, read, list, update, rename and
change the status of a resource inside one store transaction. It validates names,
labels and descriptions, applies ``google.api.field_behavior`` from the descriptors,
checks that parents and references exist and may be used (archived: blocked;
deprecated: allowed with a warning), keeps etags, and records the lineage edges that
references imply.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, TypeVar

from google.protobuf import field_mask_pb2
from google.protobuf.message import Message

from mlspec import errors
from mlspec.common.v1 import digest_pb2, object_meta_pb2, reference_pb2, warning_pb2
from mlspec.domain.clock import micros_to_timestamp, now_micros
from mlspec.domain.common import field_behavior, names, well_formed
from mlspec.domain.common.field_copy import copy_field
from mlspec.domain.common.kinds import (
    BY_KIND,
    EXTERNAL_KEY,
    KindSpec,
    external_key,
    index_values,
    referenced_kinds,
    spec_for_message,
)
from mlspec.domain.common.policy import OPEN, Policy
from mlspec.errors import FieldViolation
from mlspec.lifecycle.v1 import lineage_pb2
from mlspec.query import Comparison, Node
from mlspec.store.api import (
    AuditRow,
    Edge,
    EventRow,
    FieldSpec,
    ListQuery,
    ListResult,
    LogRow,
    ResourceRecord,
    UnitOfWork,
)

M = TypeVar("M", bound=Message)
_REF = "mlspec.common.v1.ResourceRef"
ACTIVE = object_meta_pb2.OBJECT_STATUS_ACTIVE
DEPRECATED = object_meta_pb2.OBJECT_STATUS_DEPRECATED
ARCHIVED = object_meta_pb2.OBJECT_STATUS_ARCHIVED
K = reference_pb2.ResourceKind
E = lineage_pb2.LineageEdgeKind


@dataclass
class RequestScope:
    """Who is calling and what the call has to report back besides its result."""

    workspace: str = "default"
    creator: str = ""
    warnings: list[warning_pb2.Warning] = field(default_factory=list)
    # ResourceService.ImportResource: creates keep the history the source recorded.
    importing: bool = False
    # Run by the server once the call's transaction has committed (lineage events).
    after_commit: list[Callable[[], None]] = field(default_factory=list)

    def warn(self, code: str, message: str, kind: int = 0, resource_id: str = "") -> None:
        """Adds a warning to the response, once per (code, resource)."""
        for existing in self.warnings:
            if existing.code == code and existing.resource.id == resource_id:
                return
        warning = warning_pb2.Warning(code=code, message=message)
        if resource_id:
            warning.resource.kind = kind  # type: ignore[assignment]
            warning.resource.id = resource_id
        self.warnings.append(warning)


@dataclass
class Loaded:
    """A stored resource: its message and its stored record."""

    message: Message
    record: ResourceRecord
    spec: KindSpec

    @property
    def meta(self) -> object_meta_pb2.ObjectMeta:
        """The message's common object fields."""
        return self.message.meta  # type: ignore[attr-defined,no-any-return]


class Resources:
    """The resource rules, bound to one transaction and one caller."""

    def __init__(self, tx: UnitOfWork, scope: RequestScope, policy: Policy = OPEN) -> None:
        """Binds the rules to a transaction, the calling workspace and the server policy."""
        self._tx = tx
        self.scope = scope
        self.policy = policy
        # Records read or written in this transaction, by id (saves repeated look-ups).
        self._known: dict[str, ResourceRecord] = {}

    def rebind(self, tx: UnitOfWork) -> None:
        """Continues in another transaction (streams read each chunk in a fresh one)."""
        self._tx = tx
        self._known.clear()

    def _fetch(self, resource_id: str) -> ResourceRecord | None:
        if "\x00" in resource_id:  # no stored id holds NUL (PostgreSQL text cannot)
            return None
        record = self._known.get(resource_id)
        if record is None and resource_id:
            record = self._tx.get(self.scope.workspace, resource_id)
            if record is not None:
                self._known[resource_id] = record
        return record

    def prefetch(self, ids: list[str]) -> None:
        """Loads the given resources in one query so that later look-ups hit memory."""
        missing = [i for i in ids if i and "\x00" not in i and i not in self._known]
        if missing:
            self._known.update(self._tx.get_many(self.scope.workspace, missing))

    # -- reading ------------------------------------------------------------------

    def _load(self, record: ResourceRecord) -> Loaded:
        spec = BY_KIND[record.kind]
        message = spec.message.FromString(record.data)
        return Loaded(message, record, spec)

    def get(self, kind: int, resource_id: str, *, path: str = "id") -> Loaded:
        """Reads a resource by id (archived ones too); NOT_FOUND if absent."""
        if kind not in BY_KIND:
            raise errors.invalid(
                f"{path.rsplit('.', 1)[0]}.kind" if "." in path else "kind",
                "must name a resource kind",
            )
        spec = BY_KIND[kind]
        record = self._fetch(resource_id)
        if record is None or record.kind != kind:
            raise errors.NotFound(
                f"{spec.label} {resource_id!r} does not exist",
                reason="RESOURCE_NOT_FOUND",
                resource_type=spec.full_name,
                resource_name=resource_id,
                violations=[FieldViolation(path, "no such resource")] if resource_id else [],
            )
        return self._load(record)

    def get_by_name(
        self, kind: int, name: str, scope_id: str = "", *, path: str = "name"
    ) -> Loaded:
        """Reads a non-archived resource by name within its scope; NOT_FOUND if absent."""
        spec = BY_KIND[kind]
        record = (
            None
            if "\x00" in name
            else self._tx.find_by_name(self.scope.workspace, kind, scope_id, name)
        )
        if record is None:
            where = f" in {scope_id}" if scope_id else ""
            raise errors.NotFound(
                f"no {spec.label} named {name!r}{where} (archived objects are found by id only)",
                reason="RESOURCE_NOT_FOUND",
                resource_type=spec.full_name,
                resource_name=name,
                violations=[FieldViolation(path, "no such resource")],
            )
        return self._load(record)

    def resolve(self, ref: reference_pb2.ResourceRef, path: str, *, for_use: bool) -> Loaded:
        """Resolves a reference; with ``for_use`` archived targets are refused."""
        if ref.kind not in BY_KIND:
            raise errors.invalid(f"{path}.kind", "must name a resource kind")
        target = ref.WhichOneof("target")
        if target is None:
            raise errors.invalid(path, "set either id or name")
        if target == "id":
            loaded = self.get(ref.kind, ref.id, path=f"{path}.id")
        else:
            loaded = self.get_by_name(ref.kind, ref.name, "", path=f"{path}.name")
        if ref.version:
            loaded = self._version_of(loaded, ref.version, path)
        if for_use:
            self.check_usable(loaded, path)
        return loaded

    def _version_of(self, parent: Loaded, version: str, path: str) -> Loaded:
        children: dict[int, int] = {
            K.RESOURCE_KIND_DATASET: K.RESOURCE_KIND_DATASET_VERSION,
            K.RESOURCE_KIND_MODULE: K.RESOURCE_KIND_MODULE_VERSION,
            K.RESOURCE_KIND_MODEL: K.RESOURCE_KIND_MODEL_VERSION,
        }
        child_kind = children.get(parent.spec.kind)
        if child_kind is None:
            raise errors.invalid(f"{path}.version", f"{parent.spec.label} has no versions")
        members = {
            "version": FieldSpec("num" if child_kind == K.RESOURCE_KIND_DATASET_VERSION else "text")
        }
        query = ListQuery(
            workspace=self.scope.workspace,
            kind=child_kind,
            scope=parent.record.id,
            filter=Comparison(("version",), "=", version),
            page_size=1,
            members=members,
        )
        page = self._tx.list_page(query)
        if not page.records:
            raise errors.NotFound(
                f"{parent.spec.label} {parent.record.id} has no version {version!r}",
                reason="RESOURCE_NOT_FOUND",
                violations=[FieldViolation(f"{path}.version", "no such version")],
            )
        return self._load(page.records[0])

    def check_usable(self, loaded: Loaded, path: str) -> None:
        """Refuses archived resources for new work; warns about deprecated ones."""
        status = loaded.record.status
        if status == ARCHIVED:
            raise errors.FailedPrecondition(
                f"{loaded.spec.label} {loaded.record.id} is archived and cannot be used by new work",
                reason="RESOURCE_ARCHIVED",
                resource_type=loaded.spec.full_name,
                resource_name=loaded.record.id,
                violations=[FieldViolation(path, "refers to an archived resource")],
            )
        if status == DEPRECATED:
            self.scope.warn(
                "RESOURCE_DEPRECATED",
                f"{loaded.spec.label} {loaded.record.id} ({loaded.record.name}) is deprecated",
                loaded.spec.kind,
                loaded.record.id,
            )

    def latest_in_scope(self, kind: int, scope_id: str, statuses: tuple[int, ...]) -> Loaded | None:
        """The newest resource of a kind in a scope with one of ``statuses``, or None."""
        record = self._tx.latest_in_scope(self.scope.workspace, kind, scope_id, statuses)
        return None if record is None else self._load(record)

    def save_if_changed(self, loaded: Loaded, message: M) -> None:
        """Stores ``message`` (a changed copy of ``loaded``) when it differs from it."""
        if message != loaded.message:
            self.save(loaded, message)

    def latest_active(self, kind: int, scope_id: str) -> Loaded | None:
        """The newest active (or, failing that, deprecated) resource of a kind in a scope."""
        record = self._tx.latest_in_scope(self.scope.workspace, kind, scope_id, (ACTIVE,))
        if record is None:
            record = self._tx.latest_in_scope(self.scope.workspace, kind, scope_id, (DEPRECATED,))
        return None if record is None else self._load(record)

    def list_page(self, query: ListQuery) -> ListResult:
        """One page of stored records of a kind (``query.workspace`` must be the caller's)."""
        assert query.workspace == self.scope.workspace
        return self._tx.list_page(query)

    def query(
        self,
        kind: int,
        *,
        scope: str | None = None,
        filter: Node | None = None,
        members: dict[str, FieldSpec] | None = None,
        statuses: tuple[int, ...] = (),
        page_size: int = 1000,
    ) -> ListQuery:
        """A first-page query over a kind in the caller's workspace (pass to ``list_page``)."""
        return ListQuery(
            workspace=self.scope.workspace,
            kind=kind,
            scope=scope,
            statuses=statuses,
            filter=filter,
            page_size=page_size,
            members=members or {},
        )

    def find_by_external_id(self, kind: int, system: str, external_id: str) -> Loaded | None:
        """The non-archived resource of a kind with this external identity, or None."""
        query = self.query(
            kind,
            filter=Comparison((EXTERNAL_KEY,), "=", external_key(system, external_id)),
            members={EXTERNAL_KEY: FieldSpec("text")},
            statuses=(ACTIVE, DEPRECATED),
            page_size=1,
        )
        page = self._tx.list_page(query)
        return self._load(page.records[0]) if page.records else None

    def get_by_external_id(
        self, kind: int, ext: object_meta_pb2.ExternalId, *, path: str = "external_id"
    ) -> Loaded:
        """Reads a non-archived resource by its external identity; NOT_FOUND if absent."""
        spec = BY_KIND[kind]
        violations = names.external_id_violations(ext.system, ext.id, ext.uri, path)
        if violations:
            raise errors.not_valid("the external id is not valid", violations, "INVALID_ARGUMENT")
        loaded = self.find_by_external_id(kind, ext.system, ext.id)
        if loaded is None:
            raise errors.NotFound(
                f"no {spec.label} with external id {ext.system}:{ext.id!r} (archived objects "
                "are found by id only)",
                reason="RESOURCE_NOT_FOUND",
                resource_type=spec.full_name,
                resource_name=ext.id,
                violations=[FieldViolation(path, "no such resource")],
            )
        return loaded

    def claim_external_id(
        self, spec: KindSpec, meta: object_meta_pb2.ObjectMeta, path: str
    ) -> None:
        """ALREADY_EXISTS when another non-archived object of the kind has this external id.

        The key is locked until the transaction ends, so concurrent claims take turns.
        """
        if not meta.HasField("external_id"):
            return
        ext = meta.external_id
        self._tx.lock_key(self.scope.workspace, f"{spec.kind}/{external_key(ext.system, ext.id)}")
        existing = self.find_by_external_id(spec.kind, ext.system, ext.id)
        if existing is not None and existing.record.id != meta.id:
            raise errors.AlreadyExists(
                f"{spec.label} {existing.record.id} already has external id "
                f"{ext.system}:{ext.id!r}",
                reason="EXTERNAL_ID_TAKEN",
                resource_type=spec.full_name,
                resource_name=existing.record.id,
                violations=[FieldViolation(path, "is already the identity of another object")],
            )

    def find_by_name(self, kind: int, name: str, scope_id: str = "") -> Loaded | None:
        """The non-archived resource with this name in its scope, or None."""
        if "\x00" in name:
            return None
        record = self._tx.find_by_name(self.scope.workspace, kind, scope_id, name)
        return None if record is None else self._load(record)

    def ids_named_in_any_scope(self, kind: int, name: str) -> list[str]:
        """Ids of (at most two) non-archived resources with this name, in any scope."""
        if "\x00" in name:
            return []
        return self._tx.ids_by_name_in_any_scope(self.scope.workspace, kind, name)

    def count(self, kind: int, scope_id: str) -> int:
        """The number of resources of a kind within a scope (every status)."""
        return self._tx.count_in_scope(self.scope.workspace, kind, scope_id)

    def lock(self, resource_id: str) -> None:
        """Holds a resource until the call ends, so that checks made under it take turns."""
        self._tx.lock_resource(self.scope.workspace, resource_id)

    def ping(self) -> None:
        """One round trip to the store (readiness checks)."""
        self._tx.get(self.scope.workspace, "")

    # -- lineage, metrics, monitoring records and logs of the caller's workspace ------

    def walk(
        self, start: str, *, upstream: bool, max_depth: int
    ) -> tuple[dict[str, int], set[Edge]]:
        """The nodes reached from ``start`` (smallest depth) and the edges traversed."""
        return self._tx.walk_edges(
            self.scope.workspace, start, upstream=upstream, max_depth=max_depth
        )

    def summaries(self, ids: list[str]) -> dict[str, tuple[int, str, int]]:
        """Id -> (kind, name, status), without loading the messages."""
        return self._tx.summaries(self.scope.workspace, ids)

    def append_metrics(self, rows: list[tuple[str, str, int, int, bytes]]) -> None:
        """Appends metric points (run id, key, step, time in µs, serialized Metric)."""
        self._tx.append_metrics(rows)

    def metric_history(
        self,
        run_id: str,
        key: str,
        after: tuple[int, int, int] | None,
        limit: int,
        *,
        min_step: int | None = None,
        max_step: int | None = None,
    ) -> list[tuple[tuple[int, int, int], bytes]]:
        """((step, time µs, seq), serialized Metric) of one run's metric, in that order."""
        return self._tx.metric_history(
            run_id, key, after, limit, min_step=min_step, max_step=max_step
        )

    def append_events(self, rows: list[EventRow]) -> None:
        """Appends monitoring records; AlreadyExists when a (kind, key) is taken."""
        self._tx.append_events(self.scope.workspace, rows)

    def event_exists(self, kind: int, key: str) -> bool:
        """Whether a monitoring record of ``kind`` with ``key`` exists."""
        return self._tx.event_exists(self.scope.workspace, kind, key)

    def count_events(
        self, kind: int, model_version_id: str, start: int, end: int, deployment: str = ""
    ) -> int:
        """How many monitoring records of a kind and model version fall in [start, end)."""
        return self._tx.count_events(
            self.scope.workspace, kind, model_version_id, start, end, deployment
        )

    def events_page(self, kinds: list[int], **where: Any) -> list[tuple[int, int, int, bytes]]:
        """Monitoring records (``UnitOfWork.events_page`` in the caller's workspace)."""
        return self._tx.events_page(self.scope.workspace, kinds, **where)

    def events(
        self, kinds: list[int], *, page: int = 1000, **where: Any
    ) -> Iterator[tuple[int, int, int, bytes]]:
        """Every record ``events_page`` selects, read ``page`` rows at a time as needed."""
        after: tuple[int, int] | None = None
        while True:
            rows = self.events_page(kinds, after=after, limit=page, **where)
            yield from rows
            if len(rows) < page:
                return
            after = (rows[-1][2], rows[-1][0])  # (time, seq) of the last row read

    def last_log(self, stream_id: str) -> tuple[int, str] | None:
        """(sequence, record hash) of the newest record of a log stream."""
        return self._tx.last_log(self.scope.workspace, stream_id)

    def append_logs(self, rows: list[LogRow]) -> None:
        """Appends inference-log records."""
        self._tx.append_logs(self.scope.workspace, rows)

    def append_checkpoint(self, stream_id: str, sequence: int, time: int, data: bytes) -> None:
        """Stores a signed checkpoint of a stream's head (``UnitOfWork.append_checkpoint``)."""
        self._tx.append_checkpoint(self.scope.workspace, stream_id, sequence, time, data)

    def last_checkpoint(self, stream_id: str) -> int:
        """The sequence number of a stream's newest checkpoint; 0 when it has none."""
        return self._tx.last_checkpoint(self.scope.workspace, stream_id)

    def checkpoints(
        self, stream_id: str, after_sequence: int, limit: int
    ) -> list[tuple[int, bytes]]:
        """(sequence, serialized LogCheckpoint) of a stream after a position, in order."""
        return self._tx.checkpoints(self.scope.workspace, stream_id, after_sequence, limit)

    def log_page(
        self, stream_id: str, after: tuple[str, int] | None, limit: int, **where: Any
    ) -> list[tuple[tuple[str, int], bytes]]:
        """Log records in (stream, sequence) order (``UnitOfWork.log_page``)."""
        return self._tx.log_page(self.scope.workspace, stream_id, after, limit, **where)

    def logs(
        self, stream_id: str, after_sequence: int, limit: int, **where: Any
    ) -> list[tuple[int, bytes]]:
        """(sequence, serialized record) of a stream in order (``UnitOfWork.logs``)."""
        return self._tx.logs(self.scope.workspace, stream_id, after_sequence, limit, **where)

    def audit_page(self, after_seq: int, limit: int, **where: Any) -> list[AuditRow]:
        """Audit entries of the caller's workspace in order (``UnitOfWork.audit_page``)."""
        return self._tx.audit_page(self.scope.workspace, after_seq, limit, **where)

    # -- writing ------------------------------------------------------------------

    def create(
        self,
        message: M,
        path: str,
        *,
        ref_edges: bool = True,
        derive: Callable[[M], list[Edge] | None] | None = None,
        waived: Collection[str] = (),
    ) -> M:
        """Validates and stores a new resource; returns it as stored.

        Its top-level `*_id` fields and (with ``ref_edges``) top-level references become
        lineage edges into the new resource. ``derive`` fills server-computed fields once
        the client's output-only values are cleared, the references are checked and the
        id is set; it returns further lineage edges, stored with those.
        """
        spec = spec_for_message(message)
        assert spec is not None, f"{message.DESCRIPTOR.full_name} is not a resource kind"
        kept = _history(message) if self.scope.importing else None
        field_behavior.clear_output_only(message)
        meta: object_meta_pb2.ObjectMeta = message.meta  # type: ignore[attr-defined]
        violations = self._meta_violations(spec, meta, f"{path}.meta")
        violations += content_violations(message, path, waived)
        if violations:
            raise errors.not_valid(f"{spec.label} is not valid", violations, "INVALID_RESOURCE")
        if meta.workspace and meta.workspace != self.scope.workspace:
            raise errors.invalid(
                f"{path}.meta.workspace", "must be empty or the caller's workspace"
            )
        links = self._check_references(spec, message, path, ref_edges=ref_edges)
        self.claim_external_id(spec, meta, f"{path}.meta.external_id")
        now = now_micros()
        meta.id = str(uuid.uuid4())
        meta.workspace = self.scope.workspace
        meta.status = ACTIVE
        meta.create_time.CopyFrom(micros_to_timestamp(now))
        meta.update_time.CopyFrom(micros_to_timestamp(now))
        meta.status_time.CopyFrom(micros_to_timestamp(now))
        if self.scope.creator:
            meta.creator = self.scope.creator
        if kept is not None:
            now = _restore_history(message, kept, now)
        meta.etag = _etag()
        edges: list[Edge] = [(source, meta.id, kind) for source, kind in links]
        if derive is not None:
            edges += derive(message) or []
        record = self._tx.insert(self._record(spec, message, create_time=now))
        self._known[record.id] = record
        self.link(edges)
        return message

    def common_violations(
        self, message: Message, path: str, waived: Collection[str] = ()
    ) -> list[FieldViolation]:
        """What the common rules find wrong with a new resource (names, labels, required).

        The same checks ``create`` makes, on a copy: a kind's hook that refuses the
        message first adds these, so that a caller learns every violation at once.
        """
        spec = spec_for_message(message)
        assert spec is not None
        copy = type(message)()
        copy.CopyFrom(message)
        field_behavior.clear_output_only(copy)
        found = self._meta_violations(spec, copy.meta, f"{path}.meta")  # type: ignore[attr-defined]
        return found + content_violations(copy, path, waived)

    def link(self, edges: Sequence[Edge]) -> None:
        """Records lineage edges (source, target, LineageEdgeKind); the one way edges are made."""
        if edges:
            self._tx.add_edges(self.scope.workspace, edges)

    def kind_of(self, resource_id: str) -> int | None:
        """The kind of a resource of the workspace, or None if there is none with this id."""
        record = self._fetch(resource_id)
        return None if record is None else record.kind

    def _meta_violations(
        self, spec: KindSpec, meta: object_meta_pb2.ObjectMeta, path: str
    ) -> list[FieldViolation]:
        found: list[FieldViolation] = []
        if meta.name or spec.name_required:
            found += names.name_violations(meta.name, f"{path}.name")
        found += names.label_violations(dict(meta.labels), f"{path}.labels")
        found += names.description_violations(meta.description, f"{path}.description")
        found += names.display_name_violations(meta.display_name, f"{path}.display_name")
        if meta.HasField("external_id"):
            ext = meta.external_id
            found += names.external_id_violations(
                ext.system, ext.id, ext.uri, f"{path}.external_id"
            )
        return found

    def _check_references(
        self, spec: KindSpec, message: Message, path: str, *, ref_edges: bool
    ) -> list[tuple[str, int]]:
        """Checks parents, `*_id` fields and references; returns the lineage they imply."""
        lineage: list[tuple[str, int]] = []
        references = list(_references(message, path))
        self.prefetch(
            [getattr(message, f.name) for f in _id_fields(message.DESCRIPTOR)]
            + [ref.id for _, ref in references if ref.WhichOneof("target") == "id"]
        )
        for fd in _id_fields(message.DESCRIPTOR):
            value = getattr(message, fd.name)
            if not value:
                continue
            kinds = referenced_kinds(fd)
            target = self.get_one_of(kinds, value, f"{path}.{fd.name}")
            self.check_usable(target, f"{path}.{fd.name}")
            lineage.append((target.record.id, _relation(spec.kind, target.spec.kind)))
        for ref_path, ref in references:
            target = self.resolve(ref, ref_path, for_use=True)
            ref.id = target.record.id
            ref.kind = target.spec.kind  # type: ignore[assignment]  # a version, through its parent
            ref.ClearField("version")
        for fd in message.DESCRIPTOR.fields if ref_edges else ():
            if (
                fd.message_type is not None
                and fd.message_type.full_name == "mlspec.common.v1.ResourceRef"
            ):
                refs = getattr(message, fd.name)
                for ref in (
                    refs if fd.is_repeated else ([refs] if message.HasField(fd.name) else [])
                ):
                    lineage.append((ref.id, E.LINEAGE_EDGE_KIND_DERIVED_FROM))
        return lineage

    def get_one_of(self, kinds: tuple[int, ...], resource_id: str, path: str) -> Loaded:
        """Reads a resource of one of ``kinds`` by id (archived ones too); NOT_FOUND if absent."""
        record = self._fetch(resource_id)
        if record is None or record.kind not in kinds:
            labels = " or ".join(BY_KIND[k].label for k in kinds)
            raise errors.NotFound(
                f"{labels} {resource_id!r} does not exist",
                reason="RESOURCE_NOT_FOUND",
                resource_type=BY_KIND[kinds[0]].full_name,
                resource_name=resource_id,
                violations=[FieldViolation(path, "no such resource")],
            )
        return self._load(record)

    def _record(self, spec: KindSpec, message: Message, *, create_time: int) -> ResourceRecord:
        meta: object_meta_pb2.ObjectMeta = message.meta  # type: ignore[attr-defined]
        return ResourceRecord(
            id=meta.id,
            workspace=meta.workspace,
            kind=spec.kind,
            scope=spec.scope_of(message),
            name=meta.name,
            status=meta.status,
            create_time=create_time,
            update_time=meta.update_time.ToMicroseconds(),
            etag=meta.etag,
            data=message.SerializeToString(deterministic=True),
            fields=index_values(spec, message),
        )

    @staticmethod
    def check_etag(loaded: Loaded, expected_etag: str) -> None:
        """ABORTED when the caller read an older version (an empty etag skips the check)."""
        if expected_etag and expected_etag != loaded.record.etag:
            raise errors.Aborted(
                f"{loaded.spec.label} {loaded.record.id} has changed (etag {expected_etag!r} is "
                f"stale); read it again and retry",
                reason="ETAG_MISMATCH",
                resource_type=loaded.spec.full_name,
                resource_name=loaded.record.id,
            )

    @staticmethod
    def check_changeable(loaded: Loaded) -> None:
        """FAILED_PRECONDITION for an archived resource: it is read-only until reactivated."""
        if loaded.record.status == ARCHIVED:
            raise errors.FailedPrecondition(
                f"{loaded.spec.label} {loaded.record.id} is archived; reactivate it before "
                "changing it",
                reason="RESOURCE_ARCHIVED",
                resource_type=loaded.spec.full_name,
                resource_name=loaded.record.id,
            )

    def save(self, loaded: Loaded, message: M, expected_etag: str = "") -> M:
        """Stores a changed copy of a loaded resource (new etag and update time)."""
        meta: object_meta_pb2.ObjectMeta = message.meta  # type: ignore[attr-defined]
        self.check_etag(loaded, expected_etag)
        meta.update_time.CopyFrom(micros_to_timestamp(now_micros()))
        meta.etag = _etag()
        record = self._record(loaded.spec, message, create_time=loaded.record.create_time)
        self._known[record.id] = self._tx.replace(record, loaded.record.etag)
        return message

    def update(
        self,
        incoming: M,
        mask: field_mask_pb2.FieldMask,
        path: str,
        *,
        waive: Callable[[M], Collection[str]] | None = None,
    ) -> M:
        """Applies a partial (``update_mask``) or full update to an existing resource.

        ``waive`` gives the paths whose requirements the updated message need not meet.
        """
        spec = spec_for_message(incoming)
        assert spec is not None
        meta: object_meta_pb2.ObjectMeta = incoming.meta  # type: ignore[attr-defined]
        if not meta.id:
            raise errors.invalid(f"{path}.meta.id", "is required to say which resource to update")
        loaded = self.get(spec.kind, meta.id, path=f"{path}.meta.id")
        self.check_changeable(loaded)
        expected_etag = meta.etag
        current: Any = loaded.message
        updated = type(incoming)()
        updated.CopyFrom(current)
        candidate = type(incoming)()
        candidate.CopyFrom(incoming)
        field_behavior.clear_output_only(candidate)
        if mask.paths:
            for mask_path in mask.paths:
                _copy_path(candidate, updated, mask_path, path)
        else:
            # A full replacement keeps the server-owned fields.
            kept = type(current)()
            kept.CopyFrom(current)
            updated.CopyFrom(candidate)
            _restore_output_only(kept, updated)
            if not updated.meta.name:  # type: ignore[attr-defined]
                # Names change only through RenameResource; an omitted one is kept.
                updated.meta.name = current.meta.name  # type: ignore[attr-defined]
        if updated.meta.name != current.meta.name:  # type: ignore[attr-defined]
            raise errors.invalid(
                f"{path}.meta.name", "use ResourceService.RenameResource to rename"
            )
        violations = field_behavior.changed_immutable(current, updated, path)
        violations += self._meta_violations(spec, updated.meta, f"{path}.meta")  # type: ignore[attr-defined]
        waived = () if waive is None else waive(updated)
        violations += content_violations(updated, path, waived)
        if violations:
            raise errors.not_valid(f"cannot update {spec.label}", violations, "INVALID_UPDATE")
        return self.save(loaded, updated, expected_etag)

    def set_status(
        self, ref: reference_pb2.ResourceRef, status: int, etag: str, path: str
    ) -> Loaded:
        """Archives, deprecates or reactivates a resource referenced by id."""
        loaded = self._by_id(ref, path, "status changes")
        if loaded.record.status == status:
            return loaded
        if status == DEPRECATED and loaded.record.status == ARCHIVED:
            raise errors.FailedPrecondition(
                f"{loaded.spec.label} {ref.id} is archived; reactivate it first",
                reason="RESOURCE_ARCHIVED",
                resource_name=ref.id,
            )

        if loaded.record.status == ARCHIVED:  # its external id may have been claimed since
            self.claim_external_id(loaded.spec, loaded.meta, f"{path}.id")

        def change(meta: object_meta_pb2.ObjectMeta) -> None:
            meta.status = status  # type: ignore[assignment]
            meta.status_time.CopyFrom(micros_to_timestamp(now_micros()))

        return self._change_meta(loaded, etag, change)

    def rename(self, ref: reference_pb2.ResourceRef, new_name: str, etag: str, path: str) -> Loaded:
        """Renames a resource referenced by id, keeping names unique in its scope."""
        violations = names.name_violations(new_name, "new_name")
        if violations:
            raise errors.InvalidArgument(
                "new_name is not a valid name", reason="INVALID_NAME", violations=violations
            )
        loaded = self._by_id(ref, path, "renames")
        if loaded.record.status == ARCHIVED:
            raise errors.FailedPrecondition(
                f"{loaded.spec.label} {ref.id} is archived and cannot be renamed",
                reason="RESOURCE_ARCHIVED",
                resource_name=ref.id,
            )
        return self._change_meta(loaded, etag, lambda meta: setattr(meta, "name", new_name))

    def _by_id(self, ref: reference_pb2.ResourceRef, path: str, what: str) -> Loaded:
        if ref.WhichOneof("target") != "id":
            raise errors.invalid(f"{path}.id", f"{what} address the resource by id")
        return self.get(ref.kind, ref.id, path=f"{path}.id")

    def _change_meta(
        self, loaded: Loaded, etag: str, change: Callable[[object_meta_pb2.ObjectMeta], None]
    ) -> Loaded:
        """Stores a copy of ``loaded`` whose common fields ``change`` has edited."""
        message = type(loaded.message)()
        message.CopyFrom(loaded.message)
        change(message.meta)  # type: ignore[attr-defined]
        self.save(loaded, message, etag)
        return Loaded(message, self._known[loaded.record.id], loaded.spec)


@cache
def _id_fields(desc: Any) -> tuple[Any, ...]:
    """Top-level singular reference fields of a resource (its parents and links).

    A field is one when the contract gives it a `google.api.resource_reference`.
    """
    return tuple(
        f for f in desc.fields if f.name != "meta" and not f.is_repeated and referenced_kinds(f)
    )


_DIGEST_SET = "mlspec.common.v1.DigestSet"
MAX_UNKNOWN_REASON = 1024


def digest_sets(message: Message, path: str) -> Iterator[tuple[str, digest_pb2.DigestSet]]:
    """Every DigestSet set anywhere inside ``message``, with its path."""
    for suffix, item in field_behavior.children(
        message, field_behavior.holding(message.DESCRIPTOR, _DIGEST_SET)
    ):
        item_path = f"{path}.{suffix}"
        if isinstance(item, digest_pb2.DigestSet):
            yield item_path, item
        else:
            yield from digest_sets(item, item_path)


def content_violations(
    message: Message, path: str, waived: Collection[str] = ()
) -> list[FieldViolation]:
    """What a resource as it would be stored breaks, beyond its meta.

    Required fields at every depth (``waived`` by its kind), time ranges that end before
    they start, and digest sets that hold both digests and a reason for having none.
    Create, update and ``common_violations`` all check this.
    """
    found = field_behavior.missing_required(message, path, waived)
    found += well_formed.inverted_ranges(message, path)
    return found + _digest_set_violations(message, path)


def _digest_set_violations(message: Message, path: str) -> list[FieldViolation]:
    """A digest set holds digests or says why there are none (unknown_reason), not both."""
    found = []
    for where, digests in digest_sets(message, path):
        if digests.unknown_reason and digests.digests:
            found.append(
                FieldViolation(
                    f"{where}.unknown_reason",
                    "is set beside digests; a digest set either holds digests or says why the "
                    "source recorded none",
                )
            )
        if len(digests.unknown_reason) > MAX_UNKNOWN_REASON:
            found.append(
                FieldViolation(f"{where}.unknown_reason", "is longer than 1024 characters")
            )
    return found


@dataclass
class _History:
    """What an import keeps of the history the source system recorded."""

    create_time: int | None
    update_time: int | None
    creator: str
    artifact_uri: str


def _history(message: Message) -> _History:
    meta: object_meta_pb2.ObjectMeta = message.meta  # type: ignore[attr-defined]
    return _History(
        create_time=meta.create_time.ToMicroseconds() if meta.HasField("create_time") else None,
        update_time=meta.update_time.ToMicroseconds() if meta.HasField("update_time") else None,
        creator=meta.creator,
        artifact_uri=getattr(message, "artifact_uri", "")
        if message.DESCRIPTOR.full_name == "mlspec.tracking.v1.Run"
        else "",
    )


def _restore_history(message: Message, kept: _History, now: int) -> int:
    """Puts the imported history back; returns the create time to store."""
    meta: object_meta_pb2.ObjectMeta = message.meta  # type: ignore[attr-defined]
    created = now if kept.create_time is None else kept.create_time
    updated = created if kept.update_time is None else max(kept.update_time, created)
    meta.create_time.CopyFrom(micros_to_timestamp(created))
    meta.update_time.CopyFrom(micros_to_timestamp(updated))
    meta.status_time.CopyFrom(micros_to_timestamp(created))
    if kept.creator:
        meta.creator = kept.creator
    if kept.artifact_uri:
        message.artifact_uri = kept.artifact_uri  # type: ignore[attr-defined]
    return created


def _etag() -> str:
    return uuid.uuid4().hex[:20]


@cache
def _relation(child_kind: int, parent_kind: int) -> int:
    if child_kind == K.RESOURCE_KIND_ARTIFACT:
        return E.LINEAGE_EDGE_KIND_PRODUCED
    if BY_KIND[child_kind].label == BY_KIND[parent_kind].label + "Version":
        return E.LINEAGE_EDGE_KIND_VERSION_OF
    if child_kind == K.RESOURCE_KIND_STEP_RUN and parent_kind == K.RESOURCE_KIND_MODULE_VERSION:
        return E.LINEAGE_EDGE_KIND_EXECUTED_CODE
    if parent_kind in (K.RESOURCE_KIND_RUN, K.RESOURCE_KIND_STEP_RUN, K.RESOURCE_KIND_PIPELINE_RUN):
        return E.LINEAGE_EDGE_KIND_PART_OF
    return E.LINEAGE_EDGE_KIND_DERIVED_FROM


def _references(message: Message, path: str) -> Iterator[tuple[str, reference_pb2.ResourceRef]]:
    """Every ResourceRef set anywhere inside ``message``, with its path."""
    for suffix, item in field_behavior.children(
        message, field_behavior.holding(message.DESCRIPTOR, _REF)
    ):
        item_path = f"{path}.{suffix}"
        if isinstance(item, reference_pb2.ResourceRef):
            yield item_path, item
        else:
            yield from _references(item, item_path)


def _copy_path(source: Message, target: Message, mask_path: str, path: str) -> None:
    parts = mask_path.split(".")
    src, dst = source, target
    for i, part in enumerate(parts):
        fd = dst.DESCRIPTOR.fields_by_name.get(part)
        if fd is None:
            raise errors.invalid(
                "update_mask", f"{mask_path!r} is not a field of {dst.DESCRIPTOR.name}"
            )
        if field_behavior.OUTPUT_ONLY in field_behavior.behaviors(fd):
            raise errors.invalid("update_mask", f"{mask_path!r} is output only; the server sets it")
        if i == len(parts) - 1:
            copy_field(src, dst, fd)
            return
        if fd.message_type is None or fd.is_repeated:
            raise errors.invalid("update_mask", f"{mask_path!r} does not name a field")
        src, dst = getattr(src, part), getattr(dst, part)


def _restore_output_only(kept: Message, updated: Message) -> None:
    """Copies every OUTPUT_ONLY field (recursively through singular messages) back."""
    for fd in kept.DESCRIPTOR.fields:
        if field_behavior.OUTPUT_ONLY in field_behavior.behaviors(fd):
            copy_field(kept, updated, fd)
        elif fd.message_type is not None and not fd.is_repeated and kept.HasField(fd.name):
            _restore_output_only(getattr(kept, fd.name), getattr(updated, fd.name))
