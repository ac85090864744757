"""The stage 2 payload from the files an ingestion wrote.

Example:
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> part = folder / "part-0.csv"
    >>> _ = part.write_text("x\\n1\\n")
    >>> from mlspec.common.v1.reference_pb2 import ResourceRef
    >>> payload = data_ingestion(
    ...     ResourceRef(id="d"), [part], sources=["s3://lake/raw/"], connector="CSV", rows_ingested=1
    ... )
    >>> payload.bytes_ingested, payload.shards[0].digest.digests["sha256"][:12]
    (4, 'daff832f8020')
    >>> payload.sources[0].uri, payload.dataset_digest.digests["sha256"][:12]
    ('s3://lake/raw/', '2f5758efbd00')
"""

from __future__ import annotations

import hashlib
import os
import pathlib
from collections.abc import Iterable, Mapping
from typing import Any

from mlspec.client.digests import file_digest
from mlspec.client.fields import enum_number, fill
from mlspec.client.refs import digest_of, to_ref
from mlspec.lifecycle.v1 import ingestion_pb2

__all__ = ["data_ingestion"]


def data_ingestion(
    output: Any,
    files: Iterable[str | os.PathLike[str]] = (),
    *,
    sources: Iterable[str | Mapping[str, Any] | ingestion_pb2.IngestionSource],
    connector: str | int | Mapping[str, Any],
    rows_ingested: int = 0,
    **fields: Any,
) -> ingestion_pb2.DataIngestion:
    """The ``DataIngestion`` of a dataset version written as ``files``, read from ``sources``.

    ``output`` is the dataset version produced (its content digest becomes the
    ``dataset_digest``; without one, the sha256 of the files' sorted sha256 digests); each
    file becomes an ``IngestionShard`` with its URI, sha256 (streamed), size and index,
    and the sizes add up to ``bytes_ingested``. ``sources`` are what was read: URIs, or
    ``IngestionSource`` messages or dicts. ``connector`` is an ``IngestionConnectorType``
    name or number, or a dict of ``IngestionConnector`` fields; other keyword arguments
    set further fields. The read's ``start_time`` and ``end_time`` are the stage block's
    when the report is sent from one and they are not set here.
    """
    out = ingestion_pb2.DataIngestion(rows_ingested=rows_ingested)
    out.output_dataset.CopyFrom(to_ref(output))
    for source in sources:
        if isinstance(source, str):
            out.sources.add(uri=source)
        elif isinstance(source, ingestion_pb2.IngestionSource):
            out.sources.append(source)
        else:
            fill(out.sources.add(), **dict(source))
    if not out.sources:
        raise ValueError("data_ingestion needs the sources that were read (at least one)")
    digest = digest_of(output)
    if digest is not None:
        out.dataset_digest.CopyFrom(digest)
    if isinstance(connector, Mapping):
        fill(out.connector, **dict(connector))
    else:
        out.connector.type = ingestion_pb2.IngestionConnectorType.ValueType(
            enum_number(ingestion_pb2.IngestionConnectorType.DESCRIPTOR, connector)
            if isinstance(connector, str)
            else connector
        )
    for index, name in enumerate(files):
        path = pathlib.Path(name).resolve()
        hexdigest, size = file_digest(path)
        shard = out.shards.add(uri=path.as_uri(), size_bytes=size, index=index)
        shard.digest.digests["sha256"] = hexdigest
        out.bytes_ingested += size
    if not out.HasField("dataset_digest"):
        if not out.shards:
            raise ValueError("data_ingestion needs files, or an output that has a content digest")
        joined = "".join(sorted(s.digest.digests["sha256"] for s in out.shards)).encode()
        out.dataset_digest.digests["sha256"] = hashlib.sha256(joined).hexdigest()
    return fill(out, **fields)
