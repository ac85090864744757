"""Rules of datastores, artifacts and dataset versions (mlspec.data.v1) beyond the common ones.

- Datastore: the config member matches `type` (DATASTORE_TYPE_OTHER has none), and no
  field carries a literal secret: no password in a URI's user info, no literal value for
  a password-like key of a connection-string template (INVALID_ARGUMENT).
- Artifact: `location` or `uri` is set, `log_stream` only for logs (INVALID_ARGUMENT);
  an artifact located in a read-only datastore is refused (FAILED_PRECONDITION); the
  state defaults to LIVE. An update sets digest, size and media type only while empty
  (INVALID_ARGUMENT) and moves the state only as ArtifactState allows
  (FAILED_PRECONDITION).
- DatasetVersion: numbered within its dataset (named `v<version>` when unnamed); its
  definition is digested, and a new version with the latest version's definition is
  refused (ALREADY_EXISTS). Its dataset's `latest_version` and `latest_active_version_id`
  follow every new version and every status change, in the same transaction.
- Every DataPath a resource holds gets its `resolved_uri` from its datastore's root.
- A run lists the artifacts it produced (`Run.artifact_ids`) as they are recorded.
"""

from __future__ import annotations

import hashlib
import re

from google.protobuf import field_mask_pb2
from google.protobuf.message import Message

from mlspec import errors
from mlspec.common.v1 import reference_pb2
from mlspec.data.v1 import (
    artifact_pb2,
    data_path_pb2,
    dataset_pb2,
    dataset_profile_pb2,
    datastore_pb2,
)
from mlspec.domain.clock import micros_to_timestamp, now_micros
from mlspec.domain.common import field_behavior
from mlspec.domain.common.hooks import KindRules
from mlspec.domain.common.resources import ACTIVE, Resources
from mlspec.errors import FieldViolation

K = reference_pb2.ResourceKind
T = datastore_pb2.DatastoreType
S = artifact_pb2.ArtifactState

# The config member each datastore type takes (DATASTORE_TYPE_OTHER: none, properties).
CONFIG_OF_TYPE: dict[int, str] = {
    T.DATASTORE_TYPE_SQL_DATABASE: "sql",
    T.DATASTORE_TYPE_S3: "s3",
    T.DATASTORE_TYPE_AZURE_BLOB: "azure_blob",
    T.DATASTORE_TYPE_GCS: "gcs",
    T.DATASTORE_TYPE_HDFS: "hdfs",
    T.DATASTORE_TYPE_DBFS: "dbfs",
    T.DATASTORE_TYPE_LOCAL_FILESYSTEM: "local_filesystem",
    T.DATASTORE_TYPE_ADLS: "adls",
    T.DATASTORE_TYPE_WAREHOUSE: "warehouse",
    T.DATASTORE_TYPE_HTTP: "http",
}
# `scheme://user:password@host...`: the user info of a URI, when it has a password part.
_USERINFO_PASSWORD = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://([^/?#@]*):([^/?#@]*)@")
_PLACEHOLDER = re.compile(r"\{[^{}]+\}")
# Keys of a connection string whose value is a secret (compared without `_`, `-`, spaces).
SECRET_KEYS = frozenset(
    {
        "password",
        "pwd",
        "passwd",
        "pass",
        "secret",
        "clientsecret",
        "token",
        "accesstoken",
        "apikey",
        "accountkey",
        "accesskey",
        "secretaccesskey",
        "sastoken",
        "sharedaccesssignature",
        "privatekey",
    }
)

# ArtifactState: allowed moves. REFERENCE, ABANDONED and DELETED are final.
TRANSITIONS: dict[int, frozenset[int]] = {
    S.ARTIFACT_STATE_PENDING: frozenset({S.ARTIFACT_STATE_LIVE, S.ARTIFACT_STATE_ABANDONED}),
    S.ARTIFACT_STATE_LIVE: frozenset({S.ARTIFACT_STATE_MARKED_FOR_DELETION}),
    S.ARTIFACT_STATE_MARKED_FOR_DELETION: frozenset(
        {S.ARTIFACT_STATE_LIVE, S.ARTIFACT_STATE_DELETED}
    ),
}


# -- datastores --------------------------------------------------------------------


def _uri_password(text: str) -> str | None:
    """The password part of a URI's user info, or None when it has none."""
    match = _USERINFO_PASSWORD.match(text.strip())
    return None if match is None else match.group(2)


def _template_violations(template: str, path: str) -> list[FieldViolation]:
    found = []
    for part in template.split(";"):
        key, sep, value = part.partition("=")
        normalized = re.sub(r"[\s_\-]", "", key).lower()
        value = value.strip().strip("'\"")
        if sep and normalized in SECRET_KEYS and value and not _PLACEHOLDER.fullmatch(value):
            found.append(
                FieldViolation(
                    path,
                    f"holds a literal value for {key.strip()!r}; use a placeholder such as "
                    "{secret:password} and put the secret in the credential",
                )
            )
    password = _uri_password(template)
    if password and not _PLACEHOLDER.fullmatch(password):
        found.append(FieldViolation(path, "holds a password in the URI's user info"))
    return found


def datastore_violations(store: datastore_pb2.Datastore, path: str) -> list[FieldViolation]:
    """Config not matching the type, and literal secrets."""
    found = []
    member = store.WhichOneof("config")
    if member is not None and store.type != T.DATASTORE_TYPE_UNSPECIFIED:
        expected = CONFIG_OF_TYPE.get(store.type)
        type_name = T.Name(store.type) if store.type in T.values() else str(store.type)
        if expected is None:
            found.append(
                FieldViolation(
                    f"{path}.{member}",
                    f"{type_name} takes no typed config; describe it in properties",
                )
            )
        elif member != expected:
            found.append(
                FieldViolation(
                    f"{path}.{member}", f"does not match type {type_name}; set {expected}"
                )
            )
    if _uri_password(store.root_uri) is not None:
        found.append(
            FieldViolation(
                f"{path}.root_uri",
                "must not contain credentials (a password in the user info); reference "
                "secrets from the credential",
            )
        )
    if member is not None:
        config = getattr(store, member)
        for field, value in config.ListFields():
            where = f"{path}.{member}.{field.name}"
            if field.name == "connection_string_template":
                found += _template_violations(value, where)
            elif field.type == field.TYPE_STRING and not field.is_repeated:
                password = _uri_password(value)
                if password is not None and not _PLACEHOLDER.fullmatch(password):
                    found.append(
                        FieldViolation(where, "must not contain a password in the user info")
                    )
    return found


def _raise_datastore(violations: list[FieldViolation]) -> None:
    if violations:
        raise errors.not_valid("the datastore is not valid", violations, "INVALID_DATASTORE")


def _prepare_datastore(_res: Resources, store: datastore_pb2.Datastore, path: str) -> None:
    _raise_datastore(datastore_violations(store, path))


def update_datastore(
    res: Resources,
    incoming: datastore_pb2.Datastore,
    mask: field_mask_pb2.FieldMask,
    path: str,
) -> datastore_pb2.Datastore:
    """Applies the common update, then checks the result (raising rolls the call back)."""
    stored = res.update(incoming, mask, path)
    _raise_datastore(datastore_violations(stored, path))
    return stored


# -- artifacts ---------------------------------------------------------------------


def _prepare_artifact(_res: Resources, artifact: artifact_pb2.Artifact, path: str) -> None:
    violations = []
    if not artifact.HasField("location") and not artifact.uri:
        violations.append(FieldViolation(f"{path}.location", "set location or uri (or both)"))
    if (
        artifact.log_stream != artifact_pb2.LOG_STREAM_UNSPECIFIED
        and artifact.type != artifact_pb2.ARTIFACT_TYPE_LOGS
    ):
        violations.append(
            FieldViolation(f"{path}.log_stream", "is set only for ARTIFACT_TYPE_LOGS artifacts")
        )
    if violations:
        raise errors.not_valid("the artifact is not valid", violations, "INVALID_ARTIFACT")


def _derive_artifact(res: Resources, message: artifact_pb2.Artifact, path: str) -> None:
    resolve_data_paths(res, message, path)
    _check_artifact_datastore(res, message, path)


def _check_artifact_datastore(res: Resources, message: artifact_pb2.Artifact, path: str) -> None:
    # References are resolved by now: location.datastore holds the datastore's id.
    if message.HasField("location") and message.location.datastore.id:
        loaded = res.get(
            K.RESOURCE_KIND_DATASTORE,
            message.location.datastore.id,
            path=f"{path}.location.datastore.id",
        )
        assert isinstance(loaded.message, datastore_pb2.Datastore)
        if loaded.message.read_only:
            raise errors.FailedPrecondition(
                f"datastore {loaded.record.id} ({loaded.record.name}) is read-only; "
                "artifacts cannot be located in it",
                reason="DATASTORE_READ_ONLY",
                resource_type=loaded.spec.full_name,
                resource_name=loaded.record.id,
                violations=[
                    FieldViolation(f"{path}.location.datastore", "is a read-only datastore")
                ],
            )
    if message.state == S.ARTIFACT_STATE_UNSPECIFIED:
        message.state = S.ARTIFACT_STATE_LIVE


def _set_paths(artifact: artifact_pb2.Artifact) -> list[str]:
    """UpdateArtifact's empty mask: every field set in the request (meta: the mutable ones)."""
    paths = [
        field.name
        for field, _ in artifact.ListFields()
        if field.name != "meta"
        and field_behavior.OUTPUT_ONLY not in field_behavior.behaviors(field)
    ]
    paths += [f"meta.{name}" for name in ("description", "labels") if getattr(artifact.meta, name)]
    return paths


def update_artifact(
    res: Resources,
    incoming: artifact_pb2.Artifact,
    mask: field_mask_pb2.FieldMask,
    path: str,
) -> Message:
    """Applies the common update with the set-once fields and the state machine."""
    if not incoming.meta.id:
        raise errors.invalid(f"{path}.meta.id", "is required to say which resource to update")
    current = res.get(K.RESOURCE_KIND_ARTIFACT, incoming.meta.id, path=f"{path}.meta.id")
    before = current.message
    assert isinstance(before, artifact_pb2.Artifact)
    paths = list(mask.paths) or _set_paths(incoming)
    if not paths:  # nothing set: nothing changes
        res.check_etag(current, incoming.meta.etag)
        res.check_changeable(current)
        return before
    stored = res.update(incoming, field_mask_pb2.FieldMask(paths=paths), path)
    # The checks below look at the stored result; raising rolls the whole call back.
    already_set = [
        name
        for name, is_set in (
            ("digest", bool(before.digest.digests)),
            ("size_bytes", before.size_bytes != 0),
            ("media_type", bool(before.media_type)),
        )
        if is_set and getattr(stored, name) != getattr(before, name)
    ]
    if already_set:
        raise errors.InvalidArgument(
            f"artifact {current.record.id}: {', '.join(already_set)} is already set; the "
            "digest, size and media type are set once and never change",
            reason="FIELD_ALREADY_SET",
            violations=[
                FieldViolation(f"{path}.{name}", "is already set; it never changes")
                for name in already_set
            ],
        )
    old = before.state or S.ARTIFACT_STATE_LIVE
    new = stored.state
    if new != old and new not in TRANSITIONS.get(old, frozenset()):
        raise errors.FailedPrecondition(
            f"artifact {current.record.id} cannot move from {_state_name(old)} to "
            f"{_state_name(new)}; allowed: PENDING to LIVE or ABANDONED, LIVE to "
            "MARKED_FOR_DELETION, MARKED_FOR_DELETION to LIVE or DELETED (REFERENCE, "
            "ABANDONED and DELETED are final)",
            reason="INVALID_STATE_TRANSITION",
            resource_type=current.spec.full_name,
            resource_name=current.record.id,
            violations=[FieldViolation(f"{path}.state", "is not an allowed transition")],
        )
    return stored


def _state_name(state: int) -> str:
    return S.Name(state) if state in S.values() else str(state)  # type: ignore[arg-type]


# -- dataset versions --------------------------------------------------------------


def _derive_dataset_version(
    res: Resources, version: dataset_pb2.DatasetVersion, _path: str
) -> None:
    number_dataset_version(res, version)


def number_dataset_version(res: Resources, version: dataset_pb2.DatasetVersion) -> None:
    """Numbers a new dataset version and digests its definition (same definition: refused)."""
    resolve_data_paths(res, version, "dataset_version")
    digest = hashlib.sha256(version.definition.SerializeToString(deterministic=True)).hexdigest()
    latest = res.latest_active(K.RESOURCE_KIND_DATASET_VERSION, version.dataset_id)
    if latest is not None:
        assert isinstance(latest.message, dataset_pb2.DatasetVersion)
        if latest.message.definition_digest.digests.get("sha256") == digest:
            raise errors.AlreadyExists(
                f"the latest version ({latest.message.version}) of dataset {version.dataset_id} "
                "already has this definition; a new version needs a changed definition",
                reason="SAME_DEFINITION",
                resource_type="mlspec.data.v1.DatasetVersion",
                resource_name=latest.record.id,
            )
    version.version = res.count(K.RESOURCE_KIND_DATASET_VERSION, version.dataset_id) + 1
    version.definition_digest.digests["sha256"] = digest
    if not version.meta.name:
        version.meta.name = f"v{version.version}"


def refresh_dataset(res: Resources, version: dataset_pb2.DatasetVersion) -> None:
    """The dataset's latest version number and latest active version, recomputed."""
    loaded = res.get(K.RESOURCE_KIND_DATASET, version.dataset_id)
    assert isinstance(loaded.message, dataset_pb2.Dataset)
    dataset = dataset_pb2.Dataset()
    dataset.CopyFrom(loaded.message)
    dataset.latest_version = res.count(K.RESOURCE_KIND_DATASET_VERSION, version.dataset_id)
    active = res.latest_in_scope(K.RESOURCE_KIND_DATASET_VERSION, version.dataset_id, (ACTIVE,))
    dataset.latest_active_version_id = "" if active is None else active.record.id
    res.save_if_changed(loaded, dataset)


# -- data paths ----------------------------------------------------------------------


def resolve_data_paths(res: Resources, message: Message, path: str = "") -> None:
    """Fills ``resolved_uri`` of every DataPath in ``message`` from its datastore's root.

    References are resolved by now (the datastore reference holds its id). A path
    locator is joined to the root URI, a table locator becomes
    ``<scheme>://<root host>/<schema>.<table>``-like text under the root, and a query
    locator resolves to nothing (its `resolved_uri` stays empty).
    """
    for where, data_path in _data_paths(message, path):
        data_path.ClearField("resolved_uri")
        relative = data_path.path.relative_path
        if data_path.WhichOneof("locator") == "path" and (
            relative.startswith("/") or ".." in relative.split("/") or "\\" in relative
        ):
            raise errors.invalid(
                f"{where}.path.relative_path",
                f"{relative!r} must be relative to the datastore root: not absolute, no `..`",
                reason="INVALID_DATA_PATH",
            )
        if not data_path.datastore.id:
            continue
        store = res.get(K.RESOURCE_KIND_DATASTORE, data_path.datastore.id).message
        assert isinstance(store, datastore_pb2.Datastore)
        data_path.resolved_uri = resolved_uri(store.root_uri, data_path)


def resolved_uri(root: str, data_path: data_path_pb2.DataPath) -> str:
    """The location a DataPath names under a datastore root ('' for queries)."""
    locator = data_path.WhichOneof("locator")
    if locator == "path":
        relative = data_path.path.relative_path.lstrip("/")
        return f"{root.rstrip('/')}/{relative}" if root else relative
    if locator == "table":
        table = data_path.table
        parts = [p for p in (table.catalog, table.schema, table.table) if p]
        name = ".".join(parts)
        return f"{root.rstrip('/')}/{name}" if root else name
    return ""


def _data_paths(message: Message, path: str) -> list[tuple[str, data_path_pb2.DataPath]]:
    """Every DataPath set in ``message``, with its field path."""
    found: list[tuple[str, data_path_pb2.DataPath]] = []
    holders = field_behavior.holding(message.DESCRIPTOR, _DATA_PATH)
    for suffix, item in field_behavior.children(message, holders):
        where = f"{path}.{suffix}" if path else suffix
        if isinstance(item, data_path_pb2.DataPath):
            found.append((where, item))
        else:
            found.extend(_data_paths(item, where))
    return found


_DATA_PATH = "mlspec.data.v1.DataPath"


def refresh_run_artifacts(res: Resources, artifact: artifact_pb2.Artifact) -> None:
    """The producing run lists the artifact (creation order), once."""
    if not artifact.run_id:
        return
    loaded = res.get(K.RESOURCE_KIND_RUN, artifact.run_id)
    if artifact.meta.id in loaded.message.artifact_ids:  # type: ignore[attr-defined]
        return
    run = type(loaded.message)()
    run.CopyFrom(loaded.message)
    run.artifact_ids.append(artifact.meta.id)  # type: ignore[attr-defined]
    res.save(loaded, run)


def _derive_profile(res: Resources, profile: dataset_profile_pb2.DatasetProfile, path: str) -> None:
    if profile.dataset_view_id:
        view = res.get(K.RESOURCE_KIND_DATASET_VIEW, profile.dataset_view_id).message
        assert isinstance(view, dataset_profile_pb2.DatasetView)
        if not _view_selects(res, view, profile.dataset_version_id):
            raise errors.invalid(
                f"{path}.dataset_view_id",
                f"view {profile.dataset_view_id} does not select rows of dataset version "
                f"{profile.dataset_version_id}",
                reason="VIEW_OF_ANOTHER_VERSION",
            )
    if not profile.meta.name:
        profile.meta.name = f"profile-{profile.meta.id}"
    resolve_data_paths(res, profile, path)
    mark_staleness(profile, now_micros())


def mark_staleness(profile: dataset_profile_pb2.DatasetProfile, now: int) -> None:
    """Sets ``freshness.stale`` (and why, and when) once the profile no longer holds.

    Stale when the latest observation's fingerprint (taken the same way) or data
    modification time differs from the one the profile was computed from, or when the
    profile is older than ``max_age``. Once stale, a profile stays stale.
    """
    freshness = profile.freshness
    if freshness.stale:
        return
    reason = _staleness(profile, now)
    if reason:
        freshness.stale = True
        freshness.staleness_reason = reason  # type: ignore[assignment]
        freshness.stale_time.CopyFrom(micros_to_timestamp(now))


def _staleness(profile: dataset_profile_pb2.DatasetProfile, now: int) -> int:
    freshness = profile.freshness
    R = dataset_profile_pb2.StalenessReason
    if freshness.HasField("latest_observation"):
        was, seen = freshness.computed_from, freshness.latest_observation
        same_method = was.fingerprint_method == seen.fingerprint_method
        if (
            same_method
            and was.source_fingerprint.digests
            and seen.source_fingerprint.digests
            and was.source_fingerprint != seen.source_fingerprint
        ):
            return R.STALENESS_REASON_FINGERPRINT_CHANGED
        if (
            was.HasField("data_modified_time")
            and seen.HasField("data_modified_time")
            and seen.data_modified_time.ToMicroseconds() != was.data_modified_time.ToMicroseconds()
        ):
            return R.STALENESS_REASON_DATA_MODIFIED
    if freshness.HasField("max_age") and profile.HasField("computed_time"):
        age = now - profile.computed_time.ToMicroseconds()
        if age > freshness.max_age.ToMicroseconds():
            return R.STALENESS_REASON_MAX_AGE_EXCEEDED
    return R.STALENESS_REASON_UNSPECIFIED


def update_profile(
    res: Resources,
    incoming: dataset_profile_pb2.DatasetProfile,
    mask: field_mask_pb2.FieldMask,
    path: str,
) -> dataset_profile_pb2.DatasetProfile:
    """The common update, then the staleness its new observation or max age implies."""
    stored = res.update(incoming, mask, path)
    marked = dataset_profile_pb2.DatasetProfile()
    marked.CopyFrom(stored)
    mark_staleness(marked, now_micros())
    if marked != stored:
        loaded = res.get(K.RESOURCE_KIND_DATASET_PROFILE, stored.meta.id)
        return res.save(loaded, marked)
    return stored


def _view_selects(res: Resources, view: dataset_profile_pb2.DatasetView, version_id: str) -> bool:
    """Whether a view's rows are rows of the dataset version (pinned, or of its dataset)."""
    if view.WhichOneof("target") == "dataset_version_id":
        return view.dataset_version_id == version_id
    version = res.get(K.RESOURCE_KIND_DATASET_VERSION, version_id).message
    assert isinstance(version, dataset_pb2.DatasetVersion)
    return view.dataset_id == version.dataset_id


def _derive_checkpoint(
    res: Resources, checkpoint: dataset_profile_pb2.DatasetCheckpoint, path: str
) -> None:
    if checkpoint.profile_id:
        profile = res.get(K.RESOURCE_KIND_DATASET_PROFILE, checkpoint.profile_id).message
        assert isinstance(profile, dataset_profile_pb2.DatasetProfile)
        if profile.dataset_version_id != checkpoint.dataset_version_id:
            raise errors.invalid(
                f"{path}.profile_id",
                f"profile {checkpoint.profile_id} describes dataset version "
                f"{profile.dataset_version_id}, not {checkpoint.dataset_version_id}",
                reason="PROFILE_OF_ANOTHER_VERSION",
            )
    resolve_data_paths(res, checkpoint, path)


RULES = {
    "mlspec.data.v1.Datastore": KindRules(prepare=_prepare_datastore, update=update_datastore),
    "mlspec.data.v1.Artifact": KindRules(
        prepare=_prepare_artifact,
        derive=_derive_artifact,
        update=update_artifact,
        refresh=refresh_run_artifacts,
    ),
    "mlspec.data.v1.DatasetVersion": KindRules(
        derive=_derive_dataset_version, refresh=refresh_dataset
    ),
    "mlspec.data.v1.DatasetProfile": KindRules(derive=_derive_profile, update=update_profile),
    "mlspec.data.v1.DatasetCheckpoint": KindRules(derive=_derive_checkpoint),
}
