"""Finding the stage reports the objective rules read: by model version, by data, by id."""

from __future__ import annotations

from collections.abc import Iterator

from mlspec import errors
from mlspec.common.v1 import object_meta_pb2, reference_pb2
from mlspec.domain.common.kinds import BY_KIND, indexed_members
from mlspec.domain.common.resources import Resources
from mlspec.lifecycle.v1 import stage_pb2, stage_report_pb2
from mlspec.query import And, Comparison
from mlspec.store.api import FieldSpec, ListQuery

K = reference_pb2.ResourceKind
S = stage_pb2.LifecycleStage
Report = stage_report_pb2.StageReport
# Reports that count for decisions: not archived.
USABLE = (object_meta_pb2.OBJECT_STATUS_ACTIVE, object_meta_pb2.OBJECT_STATUS_DEPRECATED)


def find(
    res: Resources,
    member: tuple[str, ...],
    value: str,
    stage: int,
    statuses: tuple[int, ...] = USABLE,
) -> list[Report]:
    """Reports of ``stage`` whose indexed ``member`` is ``value``, newest start first."""
    if not value:
        return []
    found = list(each_report(res, member, value, stage, statuses))
    found.sort(key=lambda r: (r.start_time.ToMicroseconds(), r.meta.create_time.ToMicroseconds()))
    found.reverse()
    return found


def each_report(
    res: Resources,
    member: tuple[str, ...],
    value: str,
    stage: int,
    statuses: tuple[int, ...] = (),
) -> Iterator[Report]:
    """Every stored report of ``stage`` whose indexed ``member`` is ``value``, page by page.

    ``statuses`` limits the reports to those statuses; empty means every status.
    """
    spec = BY_KIND[K.RESOURCE_KIND_STAGE_REPORT]
    members = {
        name: FieldSpec(kind, values)
        for name, (kind, values) in indexed_members(spec.full_name).items()
    }
    query = ListQuery(
        workspace=res.scope.workspace,
        kind=K.RESOURCE_KIND_STAGE_REPORT,
        statuses=statuses,
        filter=And(
            (Comparison(member, "=", value), Comparison(("stage",), "=", S.Name(stage)))  # type: ignore[arg-type]
        ),
        page_size=200,
        members=members,
    )
    while True:
        page = res.list_page(query)
        for record in page.records:
            message = spec.message.FromString(record.data)
            assert isinstance(message, Report)
            yield message
        if not page.more or page.last is None:
            return
        query.after = page.last


def about_model_version(
    res: Resources, model_version_id: str, stage: int, statuses: tuple[int, ...] = USABLE
) -> list[Report]:
    """Reports of ``stage`` about a model version (``model_version`` or an output), newest first."""
    by_id = {
        r.meta.id: r for r in find(res, ("model_version", "id"), model_version_id, stage, statuses)
    }
    for report in find(res, ("outputs", "id"), model_version_id, stage, statuses):
        by_id.setdefault(report.meta.id, report)
    return sorted(
        by_id.values(),
        key=lambda r: (r.start_time.ToMicroseconds(), r.meta.create_time.ToMicroseconds()),
        reverse=True,
    )


def load(res: Resources, report_id: str, path: str) -> Report:
    """A stage report by id; NOT_FOUND naming ``path`` when there is none."""
    loaded = res.get(K.RESOURCE_KIND_STAGE_REPORT, report_id, path=path)
    assert isinstance(loaded.message, Report)
    return loaded.message


def objectives_report_of(res: Resources, evaluation: Report) -> Report | None:
    """The stage 1 report an evaluation names (``objectives_report``, else an input)."""
    named = evaluation.model_evaluation.objectives_report
    candidates = [named.id] if named.id else []
    candidates += [
        e.resource.id
        for e in evaluation.inputs
        if e.resource.kind == K.RESOURCE_KIND_STAGE_REPORT and e.resource.id
    ]
    for candidate in candidates:
        try:
            report = load(res, candidate, "objectives_report")
        except errors.NotFound:
            continue
        if report.stage == S.LIFECYCLE_STAGE_CODIFY_OBJECTIVES:
            return report
    return None
