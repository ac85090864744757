"""Objects found by their source identity, created when missing: why a second import adds nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from google.protobuf import any_pb2
from google.protobuf.message import Message

from mlspec.client import Client, NotFound
from mlspec.common.v1 import object_meta_pb2, resource_service_pb2

M = TypeVar("M")


def external_id(system: str, source_id: str, uri: str = "") -> object_meta_pb2.ExternalId:
    """An ``ObjectMeta.external_id``."""
    return object_meta_pb2.ExternalId(system=system, id=source_id, uri=uri)


@dataclass
class ImportCounts:
    """How many objects of each kind an import created, and how many it found already there."""

    created: dict[str, int] = field(default_factory=dict)
    existing: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str, *, created: bool) -> None:
        """Counts one object of ``kind``."""
        into = self.created if created else self.existing
        into[kind] = into.get(kind, 0) + 1

    @property
    def total_created(self) -> int:
        """Objects created by the import."""
        return sum(self.created.values())

    def rows(self) -> list[tuple[str, int, int]]:
        """(kind, created, already there) for each kind seen, sorted by kind."""
        kinds = sorted(set(self.created) | set(self.existing))
        return [(k, self.created.get(k, 0), self.existing.get(k, 0)) for k in kinds]


def ensure(
    counts: ImportCounts,
    kind: str,
    get: Callable[[], M],
    create: Callable[[], M],
) -> M:
    """The object ``get`` finds (by its external id), or the one ``create`` makes."""
    try:
        found = get()
    except NotFound:
        made = create()
        counts.count(kind, created=True)
        return made
    counts.count(kind, created=False)
    return found


def import_resource(
    client: Client, counts: ImportCounts, kind: str, message: Message
) -> resource_service_pb2.ImportResourceResponse:
    """Imports ``message`` (``ImportResource``), counting it as created or already there."""
    packed = any_pb2.Any()
    packed.Pack(message)
    response: resource_service_pb2.ImportResourceResponse = client.resources.ImportResource(
        resource_service_pb2.ImportResourceRequest(resource=packed)
    )
    counts.count(kind, created=not response.already_existed)
    return response
