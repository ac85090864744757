"""Modules and graph references (SPEC.md section 4).

- Resolving a graph's references: every step's module (a Module resolves to its latest
  active version) and every data vertex's dataset, with unresolvable references (rule
  2) and archived ones (rule 12) reported as graph violations; deprecated ones produce
  warnings when the references are resolved for use.
- The rules of a new ModuleVersion (PipelinesService.CreateModuleVersion): the
  implementation matches the module's kind, a primitive version has a snapshot with
  digests, interface names are well formed and never collide, and a complex version's
  subgraph breaks no graph validation rule (nor contains its own module, rule 11). It is
  numbered within its module (``sequence``), labelled (``version``, unique in the module)
  and named ``<module>-<version>`` when the caller gave no name.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from google.protobuf import json_format

from mlspec import errors
from mlspec.common.v1 import reference_pb2
from mlspec.domain.common.hooks import KindRules
from mlspec.domain.common.resources import ACTIVE, Loaded, Resources
from mlspec.domain.pipelines import graph
from mlspec.errors import FieldViolation
from mlspec.pipelines.v1 import graph_pb2, module_pb2, pipeline_run_pb2
from mlspec.query import Comparison
from mlspec.store.api import FieldSpec

K = reference_pb2.ResourceKind
R = graph_pb2.GraphValidationRule
MAX_NESTING = 32


@dataclass
class Resolution:
    """Module interfaces of a graph's steps, and what each reference resolved to."""

    interfaces: dict[str, module_pb2.ModuleInterface] = field(default_factory=dict)
    references: list[pipeline_run_pb2.ResolvedReference] = field(default_factory=list)
    violations: list[graph_pb2.GraphViolation] = field(default_factory=list)
    # Resolved module versions of the steps, by vertex id.
    versions: dict[str, Loaded] = field(default_factory=dict)


def resolve_graph(res: Resources, g: graph_pb2.PipelineGraph, *, for_use: bool) -> Resolution:
    """Resolves every step's module and data vertex; problems become violations.

    With ``for_use`` archived references are violations (GRAPH_VALIDATION_RULE_RESOURCE_
    ARCHIVED) and deprecated ones add RESOURCE_DEPRECATED warnings to the call.
    """
    out = Resolution()
    for vertex in g.vertices:
        try:
            if vertex.HasField("step"):
                version = module_version(
                    res, vertex.step.module, f"vertex {vertex.id}", for_use=for_use
                )
                assert isinstance(version.message, module_pb2.ModuleVersion)
                out.interfaces[vertex.id] = version.message.interface
                out.versions[vertex.id] = version
                resolved = reference_pb2.ResourceRef(
                    kind=K.RESOURCE_KIND_MODULE_VERSION, id=version.record.id
                )
                out.references.append(
                    pipeline_run_pb2.ResolvedReference(
                        vertex_id=vertex.id, requested=vertex.step.module, resolved=resolved
                    )
                )
            elif vertex.HasField("data") and vertex.data.HasField("dataset"):
                target = res.resolve(vertex.data.dataset, f"vertex {vertex.id}", for_use=for_use)
                if target.spec.kind == K.RESOURCE_KIND_DATASET:
                    latest = res.latest_active(K.RESOURCE_KIND_DATASET_VERSION, target.record.id)
                    if latest is None:
                        raise errors.FailedPrecondition(
                            f"dataset {target.record.id} has no usable version", reason="NO_VERSION"
                        )
                    target = latest
                    if for_use:
                        res.check_usable(target, f"vertex {vertex.id}")
                resolved = reference_pb2.ResourceRef(id=target.record.id)
                resolved.kind = target.spec.kind  # type: ignore[assignment]
                out.references.append(
                    pipeline_run_pb2.ResolvedReference(
                        vertex_id=vertex.id, requested=vertex.data.dataset, resolved=resolved
                    )
                )
        except (errors.NotFound, errors.InvalidArgument) as exc:
            out.violations.append(
                graph_pb2.GraphViolation(
                    rule=R.GRAPH_VALIDATION_RULE_MODULE_NOT_FOUND,
                    vertex_id=vertex.id,
                    message=exc.message,
                )
            )
        except errors.FailedPrecondition as exc:
            out.violations.append(
                graph_pb2.GraphViolation(
                    rule=R.GRAPH_VALIDATION_RULE_RESOURCE_ARCHIVED,
                    vertex_id=vertex.id,
                    message=exc.message,
                )
            )
    return out


def module_version(
    res: Resources, ref: reference_pb2.ResourceRef, path: str, *, for_use: bool
) -> Loaded:
    """The ModuleVersion a step's module reference resolves to."""
    target = res.resolve(ref, path, for_use=for_use)
    if target.spec.kind == K.RESOURCE_KIND_MODULE_VERSION:
        return target
    if target.spec.kind != K.RESOURCE_KIND_MODULE:
        raise errors.NotFound(
            f"{path} refers to a {target.spec.label}, not a module", reason="RESOURCE_NOT_FOUND"
        )
    latest = res.latest_active(K.RESOURCE_KIND_MODULE_VERSION, target.record.id)
    if latest is None:
        raise errors.NotFound(
            f"module {target.record.id} has no active version", reason="RESOURCE_NOT_FOUND"
        )
    if for_use:
        res.check_usable(latest, path)
    return latest


def declared_interfaces(
    res: Resources, g: graph_pb2.PipelineGraph
) -> dict[str, module_pb2.ModuleInterface]:
    """The interfaces of the steps whose module resolves (for structural checks only)."""
    found = {}
    for vertex in g.vertices:
        if vertex.HasField("step"):
            try:
                version = module_version(res, vertex.step.module, vertex.id, for_use=False)
            except errors.DomainError:
                continue
            assert isinstance(version.message, module_pb2.ModuleVersion)
            found[vertex.id] = version.message.interface
    return found


def graph_violations(
    res: Resources,
    g: graph_pb2.PipelineGraph,
    enclosing: module_pb2.ModuleInterface | None = None,
) -> tuple[Resolution, list[graph_pb2.GraphViolation], list[str]]:
    """Resolves (for use) and validates a graph: its resolution, every violation, an order."""
    resolution = resolve_graph(res, g, for_use=True)
    found, order = graph.validate(g, resolution.interfaces, enclosing)
    return resolution, graph.sort_violations(resolution.violations + found), order


def where(v: graph_pb2.GraphViolation, path: str = "graph") -> str:
    """The request field a graph violation is about, for error details."""
    if v.HasField("edge_index"):
        return f"{path}.edges[{v.edge_index}]"
    if v.vertex_id:
        return f"{path}.vertices[{v.vertex_id!r}]"
    if v.parameter_name:
        return f"{path}.parameters[{v.parameter_name!r}]"
    return path


# -- ModuleVersion rules ----------------------------------------------------------------


def check_module_version(res: Resources, version: module_pb2.ModuleVersion, path: str) -> None:
    """INVALID_ARGUMENT listing everything wrong with a new module version.

    The module itself exists and is usable (checked with the references before).
    """
    module = res.get(K.RESOURCE_KIND_MODULE, version.module_id, path=f"{path}.module_id")
    assert isinstance(module.message, module_pb2.Module)
    kind = module.message.kind
    implementation = version.WhichOneof("implementation")
    found: list[FieldViolation] = []
    if kind == module_pb2.MODULE_KIND_PRIMITIVE:
        if implementation == "graph":
            found.append(
                FieldViolation(
                    f"{path}.graph",
                    "a version of a primitive module runs an executor, not a graph",
                )
            )
        if not version.HasField("snapshot"):
            found.append(FieldViolation(f"{path}.snapshot", "is required for a primitive module"))
    elif kind == module_pb2.MODULE_KIND_COMPLEX and implementation != "graph":
        found.append(
            FieldViolation(
                f"{path}.graph",
                "is required: a version of a complex module runs a subgraph"
                + (", not an executor" if implementation == "executor" else ""),
            )
        )
    if version.HasField("snapshot"):
        if version.snapshot.WhichOneof("source") is None:
            found.append(
                FieldViolation(
                    f"{path}.snapshot",
                    "sets no source (git, folder, container_image, package or inline)",
                )
            )
        found += snapshot_digest_violations(version.snapshot, f"{path}.snapshot")
    found += interface_violations(version.interface, f"{path}.interface")
    if found:
        raise errors.not_valid("the module version is not valid", found, "INVALID_MODULE_VERSION")
    if implementation == "graph" and kind == module_pb2.MODULE_KIND_COMPLEX:
        _check_subgraph(res, version, module.record.id, f"{path}.graph")


MAX_INLINE_CODE = 1024 * 1024


def snapshot_digest_violations(snapshot: module_pb2.Snapshot, path: str) -> list[FieldViolation]:
    """A snapshot is fixed by digest, unless its source recorded none (unknown_reason).

    Inline code is digested by the SHA-256 of its UTF-8 text, which the server checks; an
    image without a manifest digest needs the unknown digest to be said.
    """
    digest = snapshot.digest
    unknown = bool(digest.unknown_reason) and not digest.digests
    found = []
    if not unknown and not any(digest.digests.values()):
        found.append(
            FieldViolation(
                f"{path}.digest",
                "holds no digest (set digest.unknown_reason when the source recorded none)",
            )
        )
    source = snapshot.WhichOneof("source")
    if source == "container_image" and not snapshot.container_image.image_digest and not unknown:
        found.append(
            FieldViolation(
                f"{path}.container_image.image_digest",
                "is required unless digest.unknown_reason says the source gave the image by tag",
            )
        )
    if source == "inline":
        code = snapshot.inline.code
        if len(code) > MAX_INLINE_CODE:
            found.append(
                FieldViolation(f"{path}.inline.code", "is longer than 1,048,576 characters")
            )
        sha = hashlib.sha256(code.encode()).hexdigest()
        sent = digest.digests.get("sha256", "")
        if sent.lower() != sha:
            found.append(
                FieldViolation(
                    f"{path}.digest.digests['sha256']",
                    f"must be the SHA-256 of the inline code, {sha}",
                )
            )
    return found


def interface_violations(interface: module_pb2.ModuleInterface, path: str) -> list[FieldViolation]:
    """Interface names are well formed, unique in their list, and never collide."""
    found = []
    used: dict[str, str] = {}
    for list_name in ("inputs", "outputs", "parameters"):
        seen: set[str] = set()
        for i, item in enumerate(getattr(interface, list_name)):
            where_ = f"{path}.{list_name}[{i}].name"
            if not graph.NAME.fullmatch(item.name):
                found.append(FieldViolation(where_, "must match ^[A-Za-z][A-Za-z0-9_]{0,62}$"))
            if item.name in seen:
                found.append(FieldViolation(where_, f"{item.name!r} is declared twice"))
            elif item.name in used:
                found.append(
                    FieldViolation(
                        where_, f"{item.name!r} is already the name of one of the {used[item.name]}"
                    )
                )
            seen.add(item.name)
            used.setdefault(item.name, list_name)
    return found


def _check_subgraph(
    res: Resources, version: module_pb2.ModuleVersion, module_id: str, path: str
) -> None:
    size = graph.size_violations(version.graph, path)
    if size:
        raise errors.InvalidArgument(
            "; ".join(f"{v.field} {v.description}" for v in size),
            reason="GRAPH_TOO_LARGE",
            violations=size,
        )
    resolution, found, _ = graph_violations(res, version.graph, version.interface)
    for vid, loaded in resolution.versions.items():
        if _contains_module(res, loaded, module_id, depth=0):
            found.append(
                graph_pb2.GraphViolation(
                    rule=R.GRAPH_VALIDATION_RULE_RECURSIVE_MODULE,
                    vertex_id=vid,
                    message=f"step {vid} runs module {module_id}, the module being versioned",
                )
            )
    if found:
        raise errors.InvalidArgument(
            f"the subgraph has {len(found)} violation(s): " + "; ".join(v.message for v in found),
            reason="GRAPH_INVALID",
            violations=[FieldViolation(where(v, path), v.message) for v in found],
        )


def _contains_module(res: Resources, loaded: Loaded, module_id: str, depth: int) -> bool:
    """Whether a module version is of ``module_id`` or nests it in its subgraph."""
    assert isinstance(loaded.message, module_pb2.ModuleVersion)
    if loaded.message.module_id == module_id:
        return True
    if depth >= MAX_NESTING or loaded.message.WhichOneof("implementation") != "graph":
        return False
    for vertex in loaded.message.graph.vertices:
        if not vertex.HasField("step"):
            continue
        try:
            nested = module_version(res, vertex.step.module, vertex.id, for_use=False)
        except errors.DomainError:
            continue
        if _contains_module(res, nested, module_id, depth + 1):
            return True
    return False


def _derive_module_version(res: Resources, version: module_pb2.ModuleVersion, path: str) -> None:
    """Checks a new module version, numbers it, and fills its label and name when empty."""
    check_module_version(res, version, path)
    count = res.count(K.RESOURCE_KIND_MODULE_VERSION, version.module_id)
    version.sequence = count + 1
    if not version.version:
        number = count + 1
        while _module_version_labelled(res, version.module_id, str(number)):
            number += 1
        version.version = str(number)
    elif _module_version_labelled(res, version.module_id, version.version):
        raise errors.AlreadyExists(
            f"module {version.module_id} already has a version {version.version!r}",
            reason="VERSION_TAKEN",
            resource_type="mlspec.pipelines.v1.ModuleVersion",
            resource_name=version.version,
        )
    if not version.meta.name:
        module = res.get(K.RESOURCE_KIND_MODULE, version.module_id)
        version.meta.name = f"{module.record.name}-{version.version}".replace(".", "_")
    version.spec_digest.Clear()
    version.spec_digest.digests["sha256"] = spec_digest(version)


# The fields of a module version that influence execution (what spec_digest covers).
SPEC_FIELDS = (
    "snapshot",
    "interface",
    "executor",
    "graph",
    "default_caching",
    "default_retry_policy",
    "default_timeout",
)


def spec_digest(version: module_pb2.ModuleVersion) -> str:
    """SHA-256 of the RFC 8785 canonical JSON of the execution-influencing fields."""
    document = {
        name: json_format.MessageToDict(getattr(version, name), preserving_proto_field_name=True)
        for name in SPEC_FIELDS
        if version.HasField(name)  # type: ignore[arg-type]
    }
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()


def canonical_json(value: Any) -> str:
    """RFC 8785 (JCS) text of a JSON value: sorted keys, no spaces, shortest numbers."""
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: kv[0].encode("utf-16-be"))
        return (
            "{"
            + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{canonical_json(v)}" for k, v in items)
            + "}"
        )
    if isinstance(value, list):
        return "[" + ",".join(canonical_json(v) for v in value) + "]"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _es_number(value)
    return json.dumps(value, ensure_ascii=False)


def _es_number(value: float) -> str:
    """A finite double as ECMAScript's Number.toString writes it (what RFC 8785 uses)."""
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    # repr gives the shortest digits that read back as the same double.
    exact = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(str(d) for d in exact.digits)
    point = len(digits) + int(exact.exponent)  # value = 0.<digits> x 10**point
    k = len(digits)
    if k <= point <= 21:
        return sign + digits + "0" * (point - k)
    if 0 < point <= 21:
        return sign + digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return sign + "0." + "0" * -point + digits
    exponent = point - 1
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{head}e{'+' if exponent > 0 else '-'}{abs(exponent)}"


def refresh_module(res: Resources, version: module_pb2.ModuleVersion) -> None:
    """The module's version count and its latest active version (id and label)."""
    loaded = res.get(K.RESOURCE_KIND_MODULE, version.module_id)
    assert isinstance(loaded.message, module_pb2.Module)
    module = module_pb2.Module()
    module.CopyFrom(loaded.message)
    module.version_count = res.count(K.RESOURCE_KIND_MODULE_VERSION, version.module_id)
    latest = res.latest_in_scope(K.RESOURCE_KIND_MODULE_VERSION, version.module_id, (ACTIVE,))
    module.latest_version_id = "" if latest is None else latest.record.id
    module.latest_version = "" if latest is None else latest.message.version  # type: ignore[attr-defined]
    res.save_if_changed(loaded, module)


def _module_version_labelled(res: Resources, module_id: str, label: str) -> bool:
    """Whether a version of the module (any status) has this version label."""
    query = res.query(
        K.RESOURCE_KIND_MODULE_VERSION,
        scope=module_id,
        filter=Comparison(("version",), "=", label),
        members={"version": FieldSpec("text")},
        page_size=1,
    )
    return bool(res.list_page(query).records)


RULES = {
    "mlspec.pipelines.v1.ModuleVersion": KindRules(
        derive=_derive_module_version, refresh=refresh_module
    )
}
