"""The stage 2 payload from the files an ingestion wrote.

Example:
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> part = folder / "part-0.csv"
    >>> _ = part.write_text("x\\n1\\n")
    >>> from mlspec.common.v1.reference_pb2 import ResourceRef
    >>> payload = data_ingestion(ResourceRef(id="d"), [part], connector="CSV", rows_ingested=1)
    >>> payload.bytes_ingested, payload.shards[0].digest.digests["sha256"][:12]
    (4, 'daff832f8020')
"""

from __future__ import annotations

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
    connector: str | int | Mapping[str, Any] | None = None,
    rows_ingested: int = 0,
    **fields: Any,
) -> ingestion_pb2.DataIngestion:
    """The ``DataIngestion`` of a dataset version written as ``files``.

    ``output`` is the dataset version produced (its content digest becomes the
    ``dataset_digest``); each file becomes an ``IngestionShard`` with its URI, sha256
    (streamed), size and index, and the sizes add up to ``bytes_ingested``.
    ``connector`` is an ``IngestionConnectorType`` name or number, or a dict of
    ``IngestionConnector`` fields; other keyword arguments set further fields.
    """
    out = ingestion_pb2.DataIngestion(rows_ingested=rows_ingested)
    out.output_dataset.CopyFrom(to_ref(output))
    digest = digest_of(output)
    if digest is not None:
        out.dataset_digest.CopyFrom(digest)
    if isinstance(connector, Mapping):
        fill(out.connector, **dict(connector))
    elif connector is not None:
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
    return fill(out, **fields)
