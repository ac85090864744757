"""Plain records that cross the storage interface."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlspec.domain.filters import Node, OrderKey


@dataclass(frozen=True)
class FieldValue:
    """A filterable value copied out of a resource: labels and per-kind fields."""

    key: str
    text: str | None = None
    num: float | None = None


@dataclass
class ResourceRecord:
    """One stored resource: its indexed columns and its serialized message."""

    id: str
    workspace: str
    kind: int
    scope: str
    name: str
    status: int
    create_time: int
    update_time: int
    etag: str
    data: bytes
    fields: list[FieldValue] = field(default_factory=list)
    seq: int = 0


@dataclass(frozen=True)
class FieldSpec:
    """How a filter member maps onto stored data for one kind."""

    kind: str  # "text" | "num" | "time" | "enum"
    enum_values: tuple[tuple[str, int], ...] = ()


@dataclass
class ListQuery:
    """A page request over one kind within a workspace."""

    workspace: str
    kind: int
    scope: str | None = None
    statuses: tuple[int, ...] = ()
    filter: Node | None = None
    order_by: list[OrderKey] = field(default_factory=list)
    page_size: int = 50
    after: tuple[object, int] | None = None  # (sort value, seq) of the last row seen
    members: dict[str, FieldSpec] = field(default_factory=dict)


@dataclass
class ListResult:
    """One page of records and the keyset position after its last row."""

    records: list[ResourceRecord]
    last: tuple[object, int] | None
    more: bool


@dataclass(frozen=True)
class EventRow:
    """One monitoring record to append (a request, prediction, feedback or signal)."""

    kind: int
    key: str
    time: int
    data: bytes
    model_version_id: str = ""
    deployment: str = ""
    name: str = ""
    failing: bool = False
