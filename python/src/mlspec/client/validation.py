"""Asking the server whether it would store a message, without storing it (AIP-163).

Every mutating request of the contract carries ``validate_only``: the server then runs
every rule (required fields at every depth, names, references, the kind's own rules) and
answers with what it would store, or the error, and writes nothing. ``validate`` sends a
resource or stage report through the method that creates it (``CreateDataset``,
``ReportStage``, ...), found from the contract's descriptors.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from google.protobuf import descriptor, message_factory
from google.protobuf.message import Message

from mlspec.common.v1 import resource_service_pb2
from mlspec.data.v1 import data_service_pb2
from mlspec.lifecycle.v1 import lifecycle_service_pb2
from mlspec.metadata.v1 import metadata_service_pb2
from mlspec.models.v1 import models_service_pb2
from mlspec.monitoring.v1 import monitoring_service_pb2
from mlspec.pipelines.v1 import pipelines_service_pb2
from mlspec.tracking.v1 import tracking_service_pb2

if TYPE_CHECKING:
    from mlspec.client.client import Client

__all__ = ["NotCreatable", "create_method", "validate"]

_SERVICES = (
    resource_service_pb2,
    data_service_pb2,
    lifecycle_service_pb2,
    metadata_service_pb2,
    models_service_pb2,
    monitoring_service_pb2,
    pipelines_service_pb2,
    tracking_service_pb2,
)


class NotCreatable(ValueError):
    """No method of the contract creates messages of this type."""


@cache
def create_method(message_type: str) -> tuple[descriptor.MethodDescriptor, str, str]:
    """The method that creates a ``message_type`` (full name) and its request/response fields.

    It is the mutating method (one with ``validate_only``) named ``Create<Type>`` or
    ``Report<...>`` whose request holds one message of that type.
    """
    for module in _SERVICES:
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                request = method.input_type
                if "validate_only" not in request.fields_by_name:
                    continue
                if not method.name.startswith(("Create", "Report")):
                    continue
                field_in = _field_of(request, message_type)
                field_out = _field_of(method.output_type, message_type)
                if field_in and field_out:
                    return method, field_in, field_out
    raise NotCreatable(f"no method of the contract creates a {message_type}")


def _field_of(message: descriptor.Descriptor, message_type: str) -> str:
    return next(
        (
            f.name
            for f in message.fields
            if not f.is_repeated
            and f.message_type is not None
            and f.message_type.full_name == message_type
        ),
        "",
    )


def validate(client: Client, message: Message, *, timeout: float | None = None) -> Any:
    """What the server would store for ``message``; raises the error it would answer.

    ``message`` is a resource (a ``Dataset``, a ``ModelVersion``, ...) or a
    ``StageReport``. Nothing is stored. Errors are the client's (``InvalidArgument``
    with every field violation, ``NotFound``, ``AlreadyExists``, ...).
    """
    method, field_in, field_out = create_method(message.DESCRIPTOR.full_name)
    request = message_factory.GetMessageClass(method.input_type)()
    getattr(request, field_in).CopyFrom(message)
    request.validate_only = True  # type: ignore[attr-defined]
    response_cls = message_factory.GetMessageClass(method.output_type)
    call = client.channel.unary_unary(
        f"/{method.containing_service.full_name}/{method.name}",
        request_serializer=type(request).SerializeToString,
        response_deserializer=response_cls.FromString,
    )
    response = call(request) if timeout is None else call(request, timeout=timeout)
    return getattr(response, field_out)
