"""Model version and data rules of the contract, through a real server.

Model versions: unique semantic version and aliases within a model, a required artifact
digest, GetModelVersion selectors. Data: datastore config matching its type, no
credentials in URIs, read-only datastores, artifact location, set-once digest and the
artifact state machine.
"""

from __future__ import annotations

import pathlib
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from mlspec.server.app import build_server
from mlspec.server.config import ServerConfig
from mlspec.store.sql import SqlStore
from tests.conformance.engine import Client, Outcome
from tests.pg_server import PgServer

OK = grpc.StatusCode.OK
INVALID = grpc.StatusCode.INVALID_ARGUMENT
EXISTS = grpc.StatusCode.ALREADY_EXISTS
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
NOT_FOUND = grpc.StatusCode.NOT_FOUND
SHA_A = {"digests": {"sha256": "a" * 64}}
SHA_B = {"digests": {"sha256": "b" * 64}}


@pytest.fixture
def client(channel: grpc.Channel) -> Client:
    return Client(channel, f"rules-{uuid.uuid4().hex[:12]}")


def expect(outcome: Outcome, code: grpc.StatusCode, field: str = "", reason: str = "") -> None:
    assert outcome.code == code, f"expected {code.name}, got {outcome.code.name}: {outcome.message}"
    if field:
        assert field in outcome.violations, outcome.violations
    if reason:
        assert outcome.reason == reason, outcome.reason


def new_model(client: Client, name: str = "churn") -> str:
    body = client.ok("ModelsService.CreateModel", {"model": {"meta": {"name": name}}})
    return str(body["model"]["meta"]["id"])


def version_body(model_id: str, version: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "model_version": {
            "model_id": model_id,
            "version": version,
            "artifact": {"uri": "s3://m/x", "digest": SHA_A},
            **extra,
        }
    }


def create_version(client: Client, model_id: str, version: dict[str, Any], **extra: Any) -> Outcome:
    return client.call("ModelsService.CreateModelVersion", version_body(model_id, version, **extra))


# -- model versions ----------------------------------------------------------------


def test_a_semantic_version_is_unique_within_its_model(client: Client) -> None:
    model_id = new_model(client)
    expect(create_version(client, model_id, {"major": 1, "minor": 2}), OK)
    expect(
        create_version(client, model_id, {"major": 1, "minor": 2}),
        EXISTS,
        field="model_version.version",
        reason="VERSION_TAKEN",
    )
    # Build metadata is ignored for uniqueness; a pre-release is a version of its own.
    expect(create_version(client, model_id, {"major": 1, "minor": 2, "build": "b7"}), EXISTS)
    expect(create_version(client, model_id, {"major": 1, "minor": 2, "prerelease": "rc.1"}), OK)
    # Another model may use the same version.
    expect(create_version(client, new_model(client, "other"), {"major": 1, "minor": 2}), OK)
    expect(
        create_version(client, model_id, {"major": 1, "prerelease": "rc..1"}),
        INVALID,
        field="model_version.version.prerelease",
    )


def test_an_alias_is_held_by_one_version_of_a_model(client: Client) -> None:
    model_id = new_model(client)
    expect(create_version(client, model_id, {"major": 1}, aliases=["prod"]), OK)
    expect(
        create_version(client, model_id, {"major": 2}, aliases=["prod"]),
        EXISTS,
        field="model_version.aliases[0]",
        reason="ALIAS_TAKEN",
    )
    expect(
        create_version(client, model_id, {"major": 2}, aliases=["PROD"]),
        INVALID,
        field="model_version.aliases[0]",
    )
    expect(
        create_version(client, model_id, {"major": 2}, aliases=["canary", "canary"]),
        INVALID,
        field="model_version.aliases[1]",
    )
    v2 = client.ok("ModelsService.CreateModelVersion", version_body(model_id, {"major": 2}))
    v2_id = v2["model_version"]["meta"]["id"]
    # An update may not take an alias another version holds; SetModelVersionAlias moves it.
    expect(
        client.call(
            "ModelsService.UpdateModelVersion",
            {
                "model_version": {"meta": {"id": v2_id}, "aliases": ["prod"]},
                "update_mask": "aliases",
            },
        ),
        EXISTS,
        reason="ALIAS_TAKEN",
    )
    moved = client.ok(
        "ModelsService.SetModelVersionAlias",
        {"model_id": model_id, "alias": "prod", "model_version_id": v2_id},
    )
    assert moved["model_version"]["aliases"] == ["prod"]
    listed = client.ok("ModelsService.ListModelVersions", {"model_id": model_id})
    holders = [v["meta"]["id"] for v in listed["model_versions"] if "prod" in v.get("aliases", [])]
    assert holders == [v2_id]
    expect(
        client.call(
            "ModelsService.SetModelVersionAlias",
            {"model_id": model_id, "alias": "Prod", "model_version_id": v2_id},
        ),
        INVALID,
        field="alias",
    )


def test_the_artifact_digest_and_declared_stores_are_required(client: Client) -> None:
    model_id = new_model(client)
    body = version_body(model_id, {"major": 1})
    del body["model_version"]["artifact"]["digest"]
    expect(
        client.call("ModelsService.CreateModelVersion", body),
        INVALID,
        field="model_version.artifact.digest",
    )
    body = version_body(model_id, {"major": 1})
    body["model_version"]["artifact"]["store_name"] = "nowhere"
    expect(
        client.call("ModelsService.CreateModelVersion", body),
        INVALID,
        field="model_version.artifact.store_name",
    )
    body["model_version"]["data_stores"] = [{"name": "nowhere", "uri": "s3://m"}]
    expect(client.call("ModelsService.CreateModelVersion", body), OK)


def test_get_model_version_selectors(client: Client) -> None:
    model_id = new_model(client)
    created = client.ok(
        "ModelsService.CreateModelVersion",
        version_body(model_id, {"major": 1, "minor": 2}, aliases=["champion"]),
    )
    version_id = created["model_version"]["meta"]["id"]
    get = "ModelsService.GetModelVersion"
    for text in ("1.2.0", "1.2.0+build.7"):
        found = client.ok(get, {"model_id": model_id, "version": text})
        assert found["model_version"]["meta"]["id"] == version_id
    found = client.ok(get, {"model_id": model_id, "alias": "champion"})
    assert found["model_version"]["meta"]["id"] == version_id
    assert client.ok(get, {"id": version_id})["model_version"]["meta"]["id"] == version_id
    # Not a semantic version: `1` and `1.2` are partial, not shorthands.
    for text in ("banana", "1", "1.2", "01.2.0", "1.2.0-"):
        expect(client.call(get, {"model_id": model_id, "version": text}), INVALID, field="version")
    for selector in ({"alias": "champion"}, {"version": "1.2.0"}, {"name": "x"}):
        expect(client.call(get, selector), INVALID, field="model_id")
    expect(client.call(get, {"model_id": model_id, "version": "9.9.9"}), NOT_FOUND)
    expect(client.call(get, {"model_id": model_id, "alias": "nobody"}), NOT_FOUND)
    expect(client.call(get, {}), INVALID)


def test_update_model_version_changes_only_what_the_contract_allows(client: Client) -> None:
    model_id = new_model(client)
    metric = {"key": "auc", "value": {"double_value": 0.8}}
    created = client.ok(
        "ModelsService.CreateModelVersion",
        version_body(model_id, {"major": 1}, metrics=[metric]),
    )
    version_id = created["model_version"]["meta"]["id"]
    update = "ModelsService.UpdateModelVersion"
    # An empty mask changes description, labels, aliases and stage only.
    updated = client.ok(
        update,
        {
            "model_version": {
                "meta": {"id": version_id, "description": "the first"},
                "stage": "MODEL_VERSION_STAGE_STAGING",
            }
        },
    )["model_version"]
    assert updated["meta"]["description"] == "the first"
    assert updated["stage"] == "MODEL_VERSION_STAGE_STAGING"
    assert updated["metrics"] == [metric]
    assert updated["artifact"]["digest"] == SHA_A
    # Metrics are appended, never changed.
    more = [metric, {"key": "f1", "value": {"double_value": 0.7}}]
    appended = client.ok(
        update,
        {"model_version": {"meta": {"id": version_id}, "metrics": more}, "update_mask": "metrics"},
    )
    assert [m["key"] for m in appended["model_version"]["metrics"]] == ["auc", "f1"]
    changed = [{"key": "auc", "value": {"double_value": 0.99}}, more[1]]
    expect(
        client.call(
            update,
            {
                "model_version": {"meta": {"id": version_id}, "metrics": changed},
                "update_mask": "metrics",
            },
        ),
        PRECONDITION,
        field="model_version.metrics[0]",
    )
    expect(
        client.call(
            update,
            {"model_version": {"meta": {"id": version_id}}, "update_mask": "metrics"},
        ),
        PRECONDITION,
    )
    expect(
        client.call(
            update,
            {"model_version": {"meta": {"id": version_id}, "train": {}}, "update_mask": "train"},
        ),
        INVALID,
        field="model_version.train",
    )
    after = client.ok("ModelsService.GetModelVersion", {"id": version_id})["model_version"]
    assert [m["key"] for m in after["metrics"]] == ["auc", "f1"]
    assert after["metrics"][0]["value"]["double_value"] == 0.8


# -- concurrency, on both backends -------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def backend_channel(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[grpc.Channel]:
    if request.param == "sqlite":
        folder: pathlib.Path = tmp_path_factory.mktemp("rules")
        url = f"sqlite:///{folder / 'store.db'}"
    else:
        pg: PgServer = request.getfixturevalue("pg_server")
        url = pg.create_database("mlspec_model_data_rules")
    store = SqlStore(url)
    store.upgrade()
    running = build_server(ServerConfig(port=0, store_url=url), store=store)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            yield channel
    finally:
        running.stop(0)


def _race(
    client: Client, bodies: list[dict[str, Any]], method: str = "ModelsService.CreateModelVersion"
) -> list[Outcome]:
    """Sends each body at once from its own thread; the outcomes, in finishing order."""
    barrier = threading.Barrier(len(bodies))
    outcomes: list[Outcome] = []
    lock = threading.Lock()

    def one(body: dict[str, Any]) -> None:
        barrier.wait()
        outcome = client.call(method, body)
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=one, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_concurrent_creates_keep_versions_and_aliases_unique(
    backend_channel: grpc.Channel,
) -> None:
    client = Client(backend_channel, f"race-{uuid.uuid4().hex[:12]}")
    model_id = new_model(client)
    same_version = [version_body(model_id, {"major": 3}) for _ in range(8)]
    codes = [o.code for o in _race(client, same_version)]
    assert sorted(c.name for c in codes) == ["ALREADY_EXISTS"] * 7 + ["OK"], codes
    same_alias = [
        version_body(model_id, {"major": 4, "minor": i}, aliases=["hot"]) for i in range(8)
    ]
    codes = [o.code for o in _race(client, same_alias)]
    assert sorted(c.name for c in codes) == ["ALREADY_EXISTS"] * 7 + ["OK"], codes
    listed = client.ok("ModelsService.ListModelVersions", {"model_id": model_id})
    versions = [
        (v["version"].get("major"), v["version"].get("minor", 0)) for v in listed["model_versions"]
    ]
    assert versions.count((3, 0)) == 1 and len(versions) == 2


def test_concurrent_first_calls_with_one_request_id_all_get_the_first_response(
    backend_channel: grpc.Channel,
) -> None:
    client = Client(backend_channel, f"retry-{uuid.uuid4().hex[:12]}")
    for round_number in range(10):
        body = {
            "dataset": {"meta": {"name": f"raced-{round_number}"}},
            "request_id": str(uuid.uuid4()),
        }
        outcomes = _race(client, [body] * 8, "DataService.CreateDataset")
        assert [o.code for o in outcomes] == [OK] * 8, [o.message for o in outcomes]
        ids = {o.response.dataset.meta.id for o in outcomes}  # type: ignore[union-attr]
        assert len(ids) == 1, round_number


# -- data ----------------------------------------------------------------------------


def datastore(client: Client, name: str, **fields: Any) -> Outcome:
    body = {"datastore": {"meta": {"name": name}, "type": "DATASTORE_TYPE_S3", **fields}}
    return client.call("DataService.CreateDatastore", body)


def test_a_datastore_config_matches_its_type_and_holds_no_secret(client: Client) -> None:
    expect(datastore(client, "a", gcs={"bucket": "b"}), INVALID, field="datastore.gcs")
    expect(datastore(client, "a", type="DATASTORE_TYPE_OTHER", s3={"bucket": "b"}), INVALID)
    expect(
        datastore(
            client,
            "a",
            type="DATASTORE_TYPE_SQL_DATABASE",
            root_uri="postgresql://bob:hunter2@db:5432/x",
        ),
        INVALID,
        field="datastore.root_uri",
    )
    expect(
        datastore(
            client,
            "a",
            type="DATASTORE_TYPE_SQL_DATABASE",
            sql={
                "engine": "sqlserver",
                "database": "crm",
                "connection_string_template": "Server={host};Uid={principal};Pwd=hunter2",
            },
        ),
        INVALID,
        field="datastore.sql.connection_string_template",
    )
    expect(
        datastore(
            client,
            "sql",
            type="DATASTORE_TYPE_SQL_DATABASE",
            root_uri="postgresql://bob@db:5432/crm",
            sql={
                "engine": "sqlserver",
                "database": "crm",
                "connection_string_template": "Server={host};Uid={principal};Pwd={secret:password}",
            },
        ),
        OK,
    )
    created = datastore(client, "lake", s3={"bucket": "b"})
    expect(created, OK)
    store_id = created.as_dict()["datastore"]["meta"]["id"]
    # An update to a config of another type is refused and changes nothing.
    expect(
        client.call(
            "DataService.UpdateDatastore",
            {"datastore": {"meta": {"id": store_id}, "gcs": {"bucket": "g"}}, "update_mask": "gcs"},
        ),
        INVALID,
        field="datastore.gcs",
    )
    expect(
        client.call(
            "DataService.UpdateDatastore",
            {
                "datastore": {"meta": {"id": store_id}, "root_uri": "s3://k:s@b/"},
                "update_mask": "rootUri",
            },
        ),
        INVALID,
        field="datastore.root_uri",
    )
    got = client.ok("DataService.GetDatastore", {"id": store_id})["datastore"]
    assert got["s3"] == {"bucket": "b"} and "root_uri" not in got


def _run(client: Client) -> str:
    exp = client.ok("TrackingService.CreateExperiment", {"experiment": {"meta": {"name": "e"}}})
    run = client.ok(
        "TrackingService.CreateRun", {"run": {"experiment_id": exp["experiment"]["meta"]["id"]}}
    )
    return str(run["run"]["meta"]["id"])


def artifact(client: Client, run_id: str, name: str, **fields: Any) -> Outcome:
    body = {
        "artifact": {
            "meta": {"name": name},
            "run_id": run_id,
            "type": "ARTIFACT_TYPE_MODEL",
            **fields,
        }
    }
    return client.call("DataService.CreateArtifact", body)


def test_artifacts_need_a_place_and_not_a_read_only_one(client: Client) -> None:
    run_id = _run(client)
    expect(datastore(client, "frozen", read_only=True), OK)
    expect(datastore(client, "lake"), OK)
    located = {
        "datastore": {"kind": "RESOURCE_KIND_DATASTORE", "name": "frozen"},
        "path": {"relative_path": "m/"},
    }
    expect(
        artifact(client, run_id, "a", location=located), PRECONDITION, reason="DATASTORE_READ_ONLY"
    )
    expect(
        client.call(
            "DataService.BatchCreateArtifacts",
            {
                "artifacts": [
                    {
                        "meta": {"name": "b1"},
                        "run_id": run_id,
                        "type": "ARTIFACT_TYPE_MODEL",
                        "uri": "s3://x",
                    },
                    {
                        "meta": {"name": "b2"},
                        "run_id": run_id,
                        "type": "ARTIFACT_TYPE_MODEL",
                        "location": located,
                    },
                ]
            },
        ),
        PRECONDITION,
    )
    expect(artifact(client, run_id, "b1", uri="s3://x"), OK)  # the batch created nothing
    expect(artifact(client, run_id, "a"), INVALID, field="artifact.location")
    expect(
        artifact(client, run_id, "a", uri="s3://x", log_stream="LOG_STREAM_STDOUT"),
        INVALID,
        field="artifact.log_stream",
    )
    located["datastore"]["name"] = "lake"
    made = artifact(client, run_id, "a", location=located)
    expect(made, OK)
    assert made.as_dict()["artifact"]["state"] == "ARTIFACT_STATE_LIVE"


def test_artifact_digest_is_set_once_and_state_follows_the_machine(client: Client) -> None:
    run_id = _run(client)
    made = artifact(client, run_id, "m", uri="s3://x", state="ARTIFACT_STATE_PENDING")
    expect(made, OK)
    artifact_id = made.as_dict()["artifact"]["meta"]["id"]
    update = "DataService.UpdateArtifact"

    def change(mask: str, **fields: Any) -> Outcome:
        body: dict[str, Any] = {"artifact": {"meta": {"id": artifact_id}, **fields}}
        if mask:
            body["update_mask"] = mask
        return client.call(update, body)

    expect(
        change("state", state="ARTIFACT_STATE_REFERENCE"),
        PRECONDITION,
        reason="INVALID_STATE_TRANSITION",
    )
    # PENDING -> LIVE with the digest and size, in one update with an empty mask.
    done = change("", state="ARTIFACT_STATE_LIVE", digest=SHA_A, size_bytes=42)
    expect(done, OK)
    assert done.as_dict()["artifact"]["uri"] == "s3://x"
    expect(
        change("digest", digest=SHA_B), INVALID, field="artifact.digest", reason="FIELD_ALREADY_SET"
    )
    expect(change("sizeBytes", size_bytes=43), INVALID, field="artifact.size_bytes")
    expect(change("digest", digest=SHA_A), OK)  # the same value again changes nothing
    expect(change("", meta={"id": artifact_id, "description": "d"}), OK)
    expect(change("state", state="ARTIFACT_STATE_PENDING"), PRECONDITION, field="artifact.state")
    expect(change("state", state="ARTIFACT_STATE_MARKED_FOR_DELETION"), OK)
    expect(change("state", state="ARTIFACT_STATE_LIVE"), OK)
    expect(change("state", state="ARTIFACT_STATE_MARKED_FOR_DELETION"), OK)
    expect(change("state", state="ARTIFACT_STATE_DELETED"), OK)
    expect(change("state", state="ARTIFACT_STATE_LIVE"), PRECONDITION)
    got = client.ok("DataService.GetArtifact", {"id": artifact_id})["artifact"]
    assert got["state"] == "ARTIFACT_STATE_DELETED"
    assert got["digest"] == SHA_A and got["size_bytes"] == "42"
    assert got["meta"]["description"] == "d"
