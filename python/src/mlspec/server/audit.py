"""The audit trail: one entry for each mutating call, written by the dispatcher.

A successful call's entry is written in the call's own transaction, so the change and its
record commit together; a failed call's entry is written in a transaction of its own
after the call's was rolled back. Read the trail with ResourceService.ListAuditEvents
(``services/resources.py``); nothing changes or deletes entries.
"""

from __future__ import annotations

import logging

from google.protobuf.message import Message

from mlspec.domain.clock import now_micros
from mlspec.domain.common.resources import RequestScope
from mlspec.server.errors import code_name
from mlspec.store.api import AuditRow, Store

log = logging.getLogger("mlspec.server")
ANONYMOUS = "anonymous"


def entry(
    method: str,
    scope: RequestScope,
    request: Message,
    response: Message | None = None,
    failure: BaseException | None = None,
) -> AuditRow:
    """The audit entry of one call: its response's resource, or its failure."""
    return AuditRow(
        workspace=scope.workspace,
        time=now_micros(),
        principal=scope.creator or ANONYMOUS,
        method=method,
        resource_id=_produced_id(response) if response is not None else _named_id(request),
        request_id=str(getattr(request, "request_id", "")),
        code="OK" if failure is None else code_name(failure),
        message="" if failure is None else " ".join(str(failure).split())[:512],
    )


def record_failure(
    store: Store, method: str, scope: RequestScope, request: Message, failure: BaseException
) -> None:
    """Appends a failed call's entry in a transaction of its own (logged if that fails)."""
    try:
        with store.transaction() as tx:
            tx.append_audit([entry(method, scope, request, failure=failure)])
    except Exception:  # the call's own error is what the caller must see
        log.exception("could not record a failed call of %s in the audit trail", method)


def _produced_id(response: Message) -> str:
    """The id of the resource a response carries: its ``meta``, or a field's ``meta``."""
    meta = _meta_id(response)
    if meta:
        return meta
    for field, value in response.ListFields():
        if field.message_type is not None and not field.is_repeated:
            found = _meta_id(value)
            if found:
                return found
    return ""


def _meta_id(message: Message) -> str:
    if "meta" in message.DESCRIPTOR.fields_by_name and message.HasField("meta"):
        return str(message.meta.id)  # type: ignore[attr-defined]
    return ""


def _named_id(request: Message) -> str:
    """The id a failed request named: its ``id``, or its ``resource`` reference's id."""
    fields = request.DESCRIPTOR.fields_by_name
    if "id" in fields and fields["id"].type == fields["id"].TYPE_STRING:
        return str(request.id)  # type: ignore[attr-defined]
    if "resource" in fields and request.HasField("resource"):
        return str(getattr(request.resource, "id", ""))  # type: ignore[attr-defined]
    return ""
