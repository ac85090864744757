"""Rules of model versions (mlspec.models.v1.ModelVersion) beyond the common object rules.

- The semantic version is unique within the model (build metadata ignored) and an alias
  is held by at most one version of a model: ALREADY_EXISTS otherwise (CreateModelVersion,
  UpdateModelVersion). SetModelVersionAlias is the one way to move an alias.
- The artifact needs a digest, aliases match `^[a-z][a-z0-9_-]{0,62}$`, and a store_name
  names a store the version declares: INVALID_ARGUMENT otherwise.
- An update changes only description, labels, aliases and stage; metrics and deployment
  paths are only appended to and provenance is set only while empty.

Uniqueness is checked and the version written in one store transaction. SQLite runs one
writer at a time; on PostgreSQL the transaction first locks the model's row
(``SELECT ... FOR UPDATE``), so two calls on versions of the same model take turns and
the second one's check (read committed: a fresh snapshot per statement) sees the first
one's version.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from google.protobuf import field_mask_pb2
from google.protobuf.message import Message

from mlspec import errors
from mlspec.common.v1 import object_meta_pb2, reference_pb2
from mlspec.domain.common import field_behavior
from mlspec.domain.common.hooks import KindRules
from mlspec.domain.common.resources import ACTIVE, Loaded, Resources
from mlspec.errors import FieldViolation
from mlspec.models.v1 import model_pb2, model_version_pb2
from mlspec.query import Comparison, Not, OrderKey
from mlspec.store.api import FieldSpec, ListQuery

K = reference_pb2.ResourceKind
MV = K.RESOURCE_KIND_MODEL_VERSION
FULL_NAME = "mlspec.models.v1.ModelVersion"
EVERY_STATUS = (
    object_meta_pb2.OBJECT_STATUS_ACTIVE,
    object_meta_pb2.OBJECT_STATUS_DEPRECATED,
    object_meta_pb2.OBJECT_STATUS_ARCHIVED,
)
ALIAS_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_NUM = r"0|[1-9][0-9]*"
_PRE_ID = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_BUILD_ID = r"[0-9A-Za-z-]+"
PRERELEASE_PATTERN = re.compile(rf"{_PRE_ID}(?:\.{_PRE_ID})*")
BUILD_PATTERN = re.compile(rf"{_BUILD_ID}(?:\.{_BUILD_ID})*")
SEMVER_PATTERN = re.compile(
    rf"({_NUM})\.({_NUM})\.({_NUM})"
    rf"(?:-({PRERELEASE_PATTERN.pattern}))?(?:\+({BUILD_PATTERN.pattern}))?"
)
UINT32_MAX = 2**32 - 1

# UpdateModelVersion: what an update may name, and what an empty update_mask means.
UPDATABLE = ("meta.description", "meta.labels", "aliases", "stage")
APPEND_ONLY = ("metrics", "deployment_paths")
SET_ONCE = ("provenance",)


# -- semantic versions -------------------------------------------------------------


def canonical_version(version: model_version_pb2.SemanticVersion) -> str:
    """The text form a version is stored, referred to and compared by (no build metadata)."""
    text = f"{version.major}.{version.minor}.{version.patch}"
    return f"{text}-{version.prerelease}" if version.prerelease else text


def parse_version(text: str, path: str) -> model_version_pb2.SemanticVersion:
    """Parses a semantic version (`1.4.0`, `2.0.0-rc.1+b7`); INVALID_ARGUMENT otherwise."""
    match = SEMVER_PATTERN.fullmatch(text)
    if match is None or any(int(match.group(i)) > UINT32_MAX for i in (1, 2, 3)):
        raise errors.InvalidArgument(
            f"{path}: {text!r} is not a semantic version (MAJOR.MINOR.PATCH, for example "
            "`1.4.0` or `2.0.0-rc.1`)",
            reason="INVALID_VERSION",
            violations=[FieldViolation(path, "is not a semantic version, for example `1.4.0`")],
        )
    return model_version_pb2.SemanticVersion(
        major=int(match.group(1)),
        minor=int(match.group(2)),
        patch=int(match.group(3)),
        prerelease=match.group(4) or "",
        build=match.group(5) or "",
    )


def _version_violations(
    version: model_version_pb2.SemanticVersion, path: str
) -> list[FieldViolation]:
    found = []
    if version.prerelease and not PRERELEASE_PATTERN.fullmatch(version.prerelease):
        found.append(
            FieldViolation(
                f"{path}.prerelease",
                "must be dot-separated identifiers of [0-9A-Za-z-], without leading zeros "
                "in numbers (semver 2.0), for example `rc.1`",
            )
        )
    if version.build and not BUILD_PATTERN.fullmatch(version.build):
        found.append(
            FieldViolation(
                f"{path}.build",
                "must be dot-separated identifiers of [0-9A-Za-z-] (semver 2.0)",
            )
        )
    return found


# -- aliases -----------------------------------------------------------------------


def alias_violations(aliases: list[str], path: str) -> list[FieldViolation]:
    """Aliases that break the alias pattern or repeat within one version."""
    found = []
    seen: set[str] = set()
    for i, alias in enumerate(aliases):
        if not ALIAS_PATTERN.fullmatch(alias):
            found.append(FieldViolation(f"{path}[{i}]", "must match ^[a-z][a-z0-9_-]{0,62}$"))
        elif alias in seen:
            found.append(FieldViolation(f"{path}[{i}]", f"repeats the alias {alias!r}"))
        seen.add(alias)
    return found


def _find(res: Resources, model_id: str, member: str, value: str) -> list[str]:
    """Ids of the versions of a model (any status) whose ``member`` equals ``value``."""
    query = ListQuery(
        workspace=res.scope.workspace,
        kind=MV,
        scope=model_id,
        statuses=EVERY_STATUS,
        filter=Comparison((member,), "=", value),
        page_size=2,
        members={member: FieldSpec("text")},
    )
    return [record.id for record in res.list_page(query).records]


def alias_holder(res: Resources, model_id: str, alias: str) -> Loaded | None:
    """The version of a model (any status) that holds ``alias``, if one does."""
    ids = _find(res, model_id, "aliases", alias)
    return res.get(MV, ids[0]) if ids else None


def lock_model(res: Resources, model_id: str) -> None:
    """Makes calls that check or change a model's versions take turns (see module doc).

    SQLite write transactions are already serialized (BEGIN IMMEDIATE under the store's
    writer lock); PostgreSQL locks the model's row until the transaction ends.
    """
    if model_id:
        res.lock(model_id)


def _check_aliases_free(res: Resources, version: model_version_pb2.ModelVersion, path: str) -> None:
    for i, alias in enumerate(version.aliases):
        others = [h for h in _find(res, version.model_id, "aliases", alias) if h != version.meta.id]
        if others:
            raise errors.AlreadyExists(
                f"alias {alias!r} is held by version {others[0]} of model {version.model_id}; "
                "an alias points at one version at a time (move it with SetModelVersionAlias)",
                reason="ALIAS_TAKEN",
                resource_type=FULL_NAME,
                resource_name=others[0],
                violations=[FieldViolation(f"{path}.aliases[{i}]", "is held by another version")],
            )


# -- store names -------------------------------------------------------------------


def _store_names(message: Message, path: str) -> Iterator[tuple[str, str, str]]:
    """(path, store_name, which store list) of every store_name set below ``message``."""
    for field, value in message.ListFields():
        if field.message_type is None:
            if field.name == "store_name" and value:
                which = (
                    "container_stores"
                    if message.DESCRIPTOR.full_name == "mlspec.models.v1.ContainerImage"
                    else "data_stores"
                )
                yield f"{path}.{field.name}", value, which
            continue
        if field.message_type.GetOptions().map_entry:
            if field.message_type.fields_by_name["value"].message_type is not None:
                for key, item in value.items():
                    yield from _store_names(item, f"{path}.{field.name}[{key!r}]")
        elif field.is_repeated:
            for i, item in enumerate(value):
                yield from _store_names(item, f"{path}.{field.name}[{i}]")
        else:
            yield from _store_names(value, f"{path}.{field.name}")


def _store_violations(version: model_version_pb2.ModelVersion, path: str) -> list[FieldViolation]:
    declared = {
        "data_stores": {s.name for s in version.data_stores},
        "container_stores": {s.name for s in version.container_stores},
    }
    return [
        FieldViolation(where, f"names no store declared in {which}")
        for where, name, which in _store_names(version, path)
        if name not in declared[which]
    ]


# -- create and update -------------------------------------------------------------


MAX_SOURCE_VERSION = 64


def _prepare(_res: Resources, version: model_version_pb2.ModelVersion, path: str) -> None:
    """What the request alone decides: the semantic version, digest, aliases, stores."""
    violations = _version_violations(version.version, f"{path}.version")
    digest = version.artifact.digest
    if version.HasField("artifact") and not digest.digests and not digest.unknown_reason:
        violations.append(
            FieldViolation(
                f"{path}.artifact.digest",
                "is required: the digest of the stored model, for example its sha256 (or "
                "unknown_reason when the source recorded none)",
            )
        )
    if len(version.source_version) > MAX_SOURCE_VERSION:
        violations.append(FieldViolation(f"{path}.source_version", "is longer than 64 characters"))
    violations += alias_violations(list(version.aliases), f"{path}.aliases")
    violations += _store_violations(version, path)
    if violations:
        raise errors.not_valid(
            "the model version is not valid", violations, "INVALID_MODEL_VERSION"
        )


def _derive(res: Resources, message: model_version_pb2.ModelVersion, path: str) -> None:
    """The semantic version and the aliases are free in the model (under its lock)."""
    # The model exists and is usable by now (the common reference checks ran).
    lock_model(res, message.model_id)
    text = canonical_version(message.version)
    taken = _find(res, message.model_id, "version", text)
    if taken:
        raise errors.AlreadyExists(
            f"model {message.model_id} already has version {text} ({taken[0]}); "
            "register the new version under another semantic version",
            reason="VERSION_TAKEN",
            resource_type=FULL_NAME,
            resource_name=taken[0],
            violations=[FieldViolation(f"{path}.version", "is taken in this model")],
        )
    _check_aliases_free(res, message, path)
    _check_signature_kept(res, message, path)
    if not message.meta.name:  # the model name and the version, for example churn-xgb-1-4-0
        model = res.get(K.RESOURCE_KIND_MODEL, message.model_id).record.name
        message.meta.name = f"{model}-{text}".replace(".", "-").replace("+", "-")[:255]


def _check_signature_kept(
    res: Resources, version: model_version_pb2.ModelVersion, path: str
) -> None:
    """FAILED_PRECONDITION when the signature breaks the highest version of its major."""
    if not version.HasField("signature"):
        return
    query = res.query(
        K.RESOURCE_KIND_MODEL_VERSION,
        scope=version.model_id,
        filter=Comparison(("version", "major"), "=", str(version.version.major)),
        members={"version.major": FieldSpec("num"), "version.order": FieldSpec("num")},
        page_size=1,
    )
    query.order_by = [OrderKey("version.order", descending=True)]
    page = res.list_page(query)
    if not page.records:
        return
    previous = model_version_pb2.ModelVersion.FromString(page.records[0].data)
    if not previous.HasField("signature"):
        return
    breaks = signature_breaks(previous.signature, version.signature)
    if breaks:
        raise errors.FailedPrecondition(
            f"the signature breaks version {canonical_version(previous.version)} of the same "
            f"major version ({'; '.join(breaks)}); a breaking change needs a new major version",
            reason="SIGNATURE_BREAKS_MAJOR",
            resource_type=FULL_NAME,
            resource_name=page.records[0].id,
            violations=[FieldViolation(f"{path}.signature", b) for b in breaks],
        )


def signature_breaks(
    old: model_version_pb2.ModelSignature, new: model_version_pb2.ModelSignature
) -> list[str]:
    """What in ``new`` breaks callers of ``old``.

    A removed or retyped input or output, a new required input, a changed fixed
    dimension (``-1`` is a variable one).
    """
    found = []
    for side in ("inputs", "outputs"):
        now = {t.name: t for t in getattr(new, side)}
        for before in getattr(old, side):
            after = now.get(before.name)
            if after is None:
                found.append(f"{side} {before.name!r} was removed")
            elif after.datatype != before.datatype:
                found.append(f"{side} {before.name!r} changed its datatype")
            elif _fixed_dims_changed(list(before.shape), list(after.shape)):
                found.append(f"{side} {before.name!r} changed a fixed dimension")
    known = {t.name for t in old.inputs}
    found += [
        f"inputs {t.name!r} is a new required input"
        for t in new.inputs
        if t.name not in known and not t.optional
    ]
    return found


def _fixed_dims_changed(before: list[int], after: list[int]) -> bool:
    if len(before) != len(after):
        return bool(before or after)
    return any(b >= 0 and b != a for b, a in zip(before, after, strict=True))


def refresh_model(res: Resources, version: model_version_pb2.ModelVersion) -> None:
    """The model's version count and its latest version (highest active release).

    Pre-releases count only while the model has no active release.
    """
    loaded = res.get(K.RESOURCE_KIND_MODEL, version.model_id)
    assert isinstance(loaded.message, model_pb2.Model)
    model = model_pb2.Model()
    model.CopyFrom(loaded.message)
    model.version_count = res.count(K.RESOURCE_KIND_MODEL_VERSION, version.model_id)
    newest = _highest(res, version.model_id, releases_only=True) or _highest(
        res, version.model_id, releases_only=False
    )
    model.ClearField("latest_version")
    if newest is not None:
        assert isinstance(newest.message, model_version_pb2.ModelVersion)
        model.latest_version.kind = K.RESOURCE_KIND_MODEL_VERSION
        model.latest_version.id = newest.record.id
        model.latest_version.version = canonical_version(newest.message.version)
    res.save_if_changed(loaded, model)


def _highest(res: Resources, model_id: str, *, releases_only: bool) -> Loaded | None:
    query = res.query(
        K.RESOURCE_KIND_MODEL_VERSION,
        scope=model_id,
        statuses=(ACTIVE,),
        filter=Not(Comparison(("prerelease",), ":", None)) if releases_only else None,
        members={"prerelease": FieldSpec("text"), "version.order": FieldSpec("num")},
        page_size=1,
    )
    query.order_by = [OrderKey("version.order", descending=True)]
    page = res.list_page(query)
    return res.get(K.RESOURCE_KIND_MODEL_VERSION, page.records[0].id) if page.records else None


def update_model_version(
    res: Resources,
    incoming: model_version_pb2.ModelVersion,
    mask: field_mask_pb2.FieldMask,
    path: str,
) -> model_version_pb2.ModelVersion:
    """Applies UpdateModelVersion's rules around the common update."""
    paths = list(mask.paths) or list(UPDATABLE)
    allowed = UPDATABLE + APPEND_ONLY + SET_ONCE
    inside = field_behavior.paths_within(paths, allowed)
    bad = [p for p in paths if p not in inside]
    if bad:
        raise errors.InvalidArgument(
            "UpdateModelVersion changes only meta.description, meta.labels, aliases and "
            "stage, appends metrics and deployment_paths, and sets provenance while empty",
            reason="FIELD_NOT_UPDATABLE",
            violations=[FieldViolation(f"{path}.{p}", "cannot be changed") for p in bad],
        )
    if any(p == "aliases" for p in paths):
        violations = alias_violations(list(incoming.aliases), f"{path}.aliases")
        if violations:
            raise errors.InvalidArgument(
                "the aliases are not valid", reason="INVALID_ALIAS", violations=violations
            )
    if not incoming.meta.id:
        raise errors.invalid(f"{path}.meta.id", "is required to say which resource to update")
    current = res.get(MV, incoming.meta.id, path=f"{path}.meta.id")
    before = current.message
    assert isinstance(before, model_version_pb2.ModelVersion)
    lock_model(res, before.model_id)
    stored = res.update(incoming, field_mask_pb2.FieldMask(paths=paths), path)
    # The checks below look at the stored result; raising rolls the whole call back.
    changed = [
        f"{path}.{name}[{i}]"
        for name in APPEND_ONLY
        for i, (old, new) in enumerate(
            zip(getattr(before, name), getattr(stored, name), strict=False)
        )
        if old != new
    ]
    changed += [
        f"{path}.{name}"
        for name in APPEND_ONLY
        if len(getattr(stored, name)) < len(getattr(before, name))
    ]
    if before.HasField("provenance") and stored.provenance != before.provenance:
        changed.append(f"{path}.provenance")
    if changed:
        raise errors.FailedPrecondition(
            "metrics and deployment paths may only be appended, and provenance is set once: "
            + ", ".join(changed)
            + " would change",
            reason="APPEND_ONLY",
            resource_type=FULL_NAME,
            resource_name=current.record.id,
            violations=[FieldViolation(f, "already set; it never changes") for f in changed],
        )
    _check_aliases_free(res, stored, path)
    return stored


RULES = {
    FULL_NAME: KindRules(
        prepare=_prepare, derive=_derive, update=update_model_version, refresh=refresh_model
    )
}
