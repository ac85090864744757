"""The table-driven conformance engine: a workspace-scoped client and a step runner.

A case is a list of steps. Each step names a method (``DataService.CreateDataset`` or the
full ``mlspec.data.v1.DataService/CreateDataset``), gives the request as a proto3-JSON
dict, and says what must come back: a status code, optionally the ``ErrorInfo`` reason
and a ``BadRequest`` field violation path, and checks on response fields.

Values in a request or an expectation may refer to earlier responses: the whole string
``"$ds.dataset.meta.id"`` is replaced by that value of the response saved as ``ds``, and
``"${ds.dataset.meta.name}"`` inside a longer string is replaced textually.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import descriptor, json_format, message_factory
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from mlspec.common.v1 import resource_service_pb2
from mlspec.data.v1 import data_service_pb2
from mlspec.lifecycle.v1 import lifecycle_service_pb2
from mlspec.logging.v1 import logging_service_pb2
from mlspec.metadata.v1 import metadata_service_pb2
from mlspec.models.v1 import models_service_pb2
from mlspec.monitoring.v1 import monitoring_service_pb2
from mlspec.pipelines.v1 import pipelines_service_pb2
from mlspec.tracking.v1 import tracking_service_pb2

WORKSPACE_HEADER = "x-mlspec-workspace"
DOMAIN = "mlspec.io"
CALL_TIMEOUT = 15.0

SERVICES: dict[str, descriptor.ServiceDescriptor] = {
    s.name: s
    for module, name in [
        (resource_service_pb2, "ResourceService"),
        (data_service_pb2, "DataService"),
        (pipelines_service_pb2, "PipelinesService"),
        (tracking_service_pb2, "TrackingService"),
        (models_service_pb2, "ModelsService"),
        (lifecycle_service_pb2, "LifecycleService"),
        (logging_service_pb2, "LoggingService"),
        (metadata_service_pb2, "MetadataService"),
        (monitoring_service_pb2, "MonitoringService"),
    ]
    for s in [module.DESCRIPTOR.services_by_name[name]]
}


def method_descriptor(name: str) -> descriptor.MethodDescriptor:
    """Finds a method by ``Service.Method`` or ``package.Service/Method``."""
    service, _, method = name.replace("/", ".").rpartition(".")
    found = SERVICES.get(service.rpartition(".")[2])
    if found is None or method not in found.methods_by_name:
        raise KeyError(f"no method {name!r} in the MLSpec services")
    return found.methods_by_name[method]


@dataclass
class Outcome:
    """What one call returned: a response or an error, and the error's rich details."""

    code: grpc.StatusCode
    response: Message | None = None
    error: grpc.RpcError | None = None
    reason: str = ""
    domain: str = ""
    violations: list[str] = dataclasses.field(default_factory=list)
    resource_info: error_details_pb2.ResourceInfo | None = None

    @property
    def message(self) -> str:
        """The status message (empty for a success)."""
        return "" if self.error is None else str(self.error.details())

    def as_dict(self) -> dict[str, Any]:
        """The response in its proto3-JSON shape with proto field names."""
        if self.response is None:
            return {}
        return json_format.MessageToDict(self.response, preserving_proto_field_name=True)


class Client:
    """Calls any MLSpec method by name, always inside one workspace."""

    def __init__(self, channel: grpc.Channel, workspace: str) -> None:
        """Binds the client to a channel and a workspace (sent on every call)."""
        self.channel = channel
        self.workspace = workspace
        self.metadata = [(WORKSPACE_HEADER, workspace)]

    def request(self, method: str, body: Mapping[str, Any]) -> Message:
        """Builds the request message of ``method`` from its proto3-JSON dict."""
        md = method_descriptor(method)
        request = message_factory.GetMessageClass(md.input_type)()
        json_format.ParseDict(dict(body), request)
        return request

    def invoke(self, method: str, request: Message) -> Outcome:
        """Sends one unary request; never raises for a gRPC error."""
        md = method_descriptor(method)
        response_cls = message_factory.GetMessageClass(md.output_type)
        call = self.channel.unary_unary(
            f"/{md.containing_service.full_name}/{md.name}",
            request_serializer=type(request).SerializeToString,
            response_deserializer=response_cls.FromString,
        )
        try:
            response = call(request, metadata=self.metadata, timeout=CALL_TIMEOUT)
        except grpc.RpcError as err:
            return _outcome_of_error(err)
        return Outcome(grpc.StatusCode.OK, response=response)

    def call(self, method: str, body: Mapping[str, Any]) -> Outcome:
        """Builds and sends one request from its proto3-JSON dict."""
        return self.invoke(method, self.request(method, body))

    def ok(self, method: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Calls ``method``, requires OK and returns the response as a dict."""
        outcome = self.call(method, body)
        assert outcome.code == grpc.StatusCode.OK, (
            f"{method} failed with {outcome.code.name}: {outcome.message}"
        )
        return outcome.as_dict()


def _outcome_of_error(err: grpc.RpcError) -> Outcome:
    outcome = Outcome(err.code(), error=err)
    status = rpc_status.from_call(err)
    if status is None:
        return outcome
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            outcome.reason, outcome.domain = info.reason, info.domain
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            outcome.violations.extend(v.field for v in bad.field_violations)
        elif detail.Is(error_details_pb2.ResourceInfo.DESCRIPTOR):
            resource = error_details_pb2.ResourceInfo()
            detail.Unpack(resource)
            outcome.resource_info = resource
    return outcome


# -- values that refer to earlier responses --------------------------------------------

_WHOLE = re.compile(r"^\$([A-Za-z_]\w*(?:\.[\w-]+)*)$")
_EMBEDDED = re.compile(r"\$\{([A-Za-z_]\w*(?:\.[\w-]+)*)\}")
_MISSING = object()


def lookup(value: Any, path: str) -> Any:
    """Follows a dotted path (dict keys, list indexes) into a JSON value."""
    current = value
    for part in path.split(".") if path else []:
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def resolve(value: Any, saved: Mapping[str, Any]) -> Any:
    """Replaces ``$name.path`` and ``${name.path}`` references by saved values."""
    if isinstance(value, str):
        whole = _WHOLE.match(value)
        if whole:
            return _saved(whole.group(1), saved)
        return _EMBEDDED.sub(lambda m: str(_saved(m.group(1), saved)), value)
    if isinstance(value, Mapping):
        return {k: resolve(v, saved) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [resolve(v, saved) for v in value]
    return value


def _saved(ref: str, saved: Mapping[str, Any]) -> Any:
    name, _, path = ref.partition(".")
    if name not in saved:
        raise KeyError(f"no earlier response saved as {name!r}")
    found = lookup(saved[name], path)
    if found is _MISSING:
        raise KeyError(f"the response saved as {name!r} has no field {path!r}")
    return found


# -- checks on response fields ---------------------------------------------------------


class Matcher:
    """A check on one response value (the value is absent when it is ``None``)."""

    def check(self, actual: Any, saved: Mapping[str, Any]) -> str | None:
        """Returns why ``actual`` does not match, or None."""
        raise NotImplementedError


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return bool(actual == expected)
    if isinstance(expected, int) and isinstance(actual, str) and actual.lstrip("-").isdigit():
        return int(actual) == expected  # int64 fields are strings in proto3 JSON
    same: bool = actual == expected
    return same


@dataclass(frozen=True)
class Absent(Matcher):
    """The field is unset (or empty)."""

    def check(self, actual: Any, saved: Mapping[str, Any]) -> str | None:
        """Fails when the field holds a value."""
        return None if actual in (None, "", [], {}, 0, False) else f"expected unset, got {actual!r}"


@dataclass(frozen=True)
class Present(Matcher):
    """The field is set to a non-empty value."""

    def check(self, actual: Any, saved: Mapping[str, Any]) -> str | None:
        """Fails when the field is unset."""
        return "expected a value, got none" if actual in (None, "", [], {}) else None


@dataclass(frozen=True)
class Len(Matcher):
    """The repeated field has exactly ``n`` items."""

    n: int

    def check(self, actual: Any, saved: Mapping[str, Any]) -> str | None:
        """Fails on another length."""
        items = actual or []
        return None if len(items) == self.n else f"expected {self.n} items, got {len(items)}"


@dataclass(frozen=True)
class HasItem(Matcher):
    """Some item of the repeated field has these (dotted-path) field values."""

    fields: Mapping[str, Any]

    def check(self, actual: Any, saved: Mapping[str, Any]) -> str | None:
        """Fails when no item matches every field."""
        wanted = resolve(dict(self.fields), saved)
        for item in actual or []:
            if all(_same(lookup(item, k), v) for k, v in wanted.items()):
                return None
        return f"no item with {wanted!r} in {actual!r}"


@dataclass(frozen=True)
class NoItem(Matcher):
    """No item of the repeated field has these field values."""

    fields: Mapping[str, Any]

    def check(self, actual: Any, saved: Mapping[str, Any]) -> str | None:
        """Fails when some item matches every field."""
        wanted = resolve(dict(self.fields), saved)
        for item in actual or []:
            if all(_same(lookup(item, k), v) for k, v in wanted.items()):
                return f"unexpected item {item!r}"
        return None


@dataclass(frozen=True)
class Ids(Matcher):
    """The items' ids (at ``key``) are exactly, or include, the given ones."""

    ids: Sequence[str]
    key: str = "meta.id"
    exact: bool = True

    def check(self, actual: Any, saved: Mapping[str, Any]) -> str | None:
        """Fails when the ids differ (or, with ``exact=False``, when one is missing)."""
        wanted = set(resolve(list(self.ids), saved))
        got = {lookup(item, self.key) for item in actual or []}
        if self.exact and got != wanted:
            return f"expected ids {sorted(wanted)}, got {sorted(map(str, got))}"
        if not wanted <= got:
            return f"ids {sorted(wanted - got)} missing from {sorted(map(str, got))}"
        return None


@dataclass(frozen=True)
class NotIds(Matcher):
    """None of the items' ids (at ``key``) is one of the given ones."""

    ids: Sequence[str]
    key: str = "meta.id"

    def check(self, actual: Any, saved: Mapping[str, Any]) -> str | None:
        """Fails when one of the ids is present."""
        unwanted = set(resolve(list(self.ids), saved))
        got = {lookup(item, self.key) for item in actual or []}
        return f"unexpected ids {sorted(unwanted & got)}" if unwanted & got else None


@dataclass(frozen=True)
class Differs(Matcher):
    """The value differs from the given (usually saved) value."""

    other: Any

    def check(self, actual: Any, saved: Mapping[str, Any]) -> str | None:
        """Fails when the values are equal."""
        other = resolve(self.other, saved)
        return f"expected a value other than {other!r}" if _same(actual, other) else None


def check_value(actual: Any, expected: Any, saved: Mapping[str, Any]) -> str | None:
    """Compares one response value with its expectation."""
    value = None if actual is _MISSING else actual
    if isinstance(expected, Matcher):
        return expected.check(value, saved)
    wanted = resolve(expected, saved)
    return None if _same(value, wanted) else f"expected {wanted!r}, got {value!r}"


# -- cases -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One call and what it must return."""

    method: str
    request: Mapping[str, Any]
    code: str = "OK"
    reason: str | None = None
    field: str | None = None
    expect: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    save: str | None = None


@dataclass(frozen=True)
class Case:
    """A named scenario: steps run in order in a fresh workspace."""

    id: str
    steps: Sequence[Step]


def ok(
    method: str,
    request: Mapping[str, Any],
    save: str | None = None,
    expect: Mapping[str, Any] | None = None,
) -> Step:
    """A step that must succeed."""
    return Step(method, request, "OK", save=save, expect=expect or {})


def fails(
    method: str,
    request: Mapping[str, Any],
    code: str,
    reason: str | None = None,
    field: str | None = None,
) -> Step:
    """A step that must fail with ``code`` (and the given reason and field violation)."""
    return Step(method, request, code, reason=reason, field=field)


def run_case(client: Client, case: Case) -> dict[str, Any]:
    """Runs the steps of a case; returns the saved responses."""
    saved: dict[str, Any] = {}
    for number, step in enumerate(case.steps, start=1):
        where = f"step {number} ({step.method})"
        body = resolve(step.request, saved)
        outcome = client.call(step.method, body)
        assert outcome.code.name == step.code, (
            f"{where}: expected {step.code}, got {outcome.code.name}"
            f" {outcome.reason or ''} {outcome.message!r}\nrequest: {body!r}"
            + (f"\nresponse: {outcome.as_dict()!r}" if outcome.response is not None else "")
        )
        if outcome.code != grpc.StatusCode.OK:
            if step.reason is not None:
                assert outcome.domain == DOMAIN, (
                    f"{where}: ErrorInfo domain is {outcome.domain!r}, not {DOMAIN!r}"
                )
                assert outcome.reason == step.reason, (
                    f"{where}: ErrorInfo reason is {outcome.reason!r}, expected {step.reason!r}"
                    f" ({outcome.message!r})"
                )
            if step.field is not None:
                assert step.field in outcome.violations, (
                    f"{where}: expected a field violation on {step.field!r}, got"
                    f" {outcome.violations!r} ({outcome.message!r})"
                )
            continue
        response = outcome.as_dict()
        for path, expected in step.expect.items():
            problem = check_value(lookup(response, path), expected, saved)
            assert problem is None, f"{where}: {path}: {problem}\nresponse: {response!r}"
        if step.save:
            saved[step.save] = response
    return saved
