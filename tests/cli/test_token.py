"""`mlspec token create|list|revoke` on a real store, and the tokens used against a server."""

from __future__ import annotations

import json
import pathlib

import pytest

from mlspec.client import Client, PermissionDenied, Unauthenticated
from mlspec.data.v1 import data_service_pb2 as data_pb
from mlspec.server import auth
from mlspec.server.app import build_server
from mlspec.server.config import ServerConfig

from .conftest import invoke, one_error_line


def test_create_list_use_and_revoke(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "CACHE_SECONDS", 0.0)
    made = invoke(
        "token",
        "create",
        "--workspace",
        "team-a",
        "--role",
        "reader",
        "--name",
        "dashboards",
        "--store-url",
        store_url,
    )
    assert made.exit_code == 0, made.stderr
    text = made.stdout.strip()
    _, token_id, secret = text.split("_", 2)  # the secret may hold "_" itself
    assert "not shown again" in made.stderr and token_id in made.stderr

    listed = invoke("-o", "json", "token", "list", "--store-url", store_url)
    [row] = json.loads(listed.stdout)
    assert row["id"] == token_id and row["role"] == "reader" and row["revoked"] == ""
    assert secret not in listed.stdout  # never the secret
    table = invoke("token", "list", "--workspace", "team-a", "--store-url", store_url)
    assert "dashboards" in table.stdout
    assert (
        invoke(
            "-o", "json", "token", "list", "--workspace", "b", "--store-url", store_url
        ).stdout.strip()
        == "[]"
    )

    running = build_server(ServerConfig(port=0, store_url=store_url, auth="token"))
    try:
        with Client(f"127.0.0.1:{running.port}", token=text) as reader:
            reader.data.ListDatasets(data_pb.ListDatasetsRequest())
            with pytest.raises(PermissionDenied):
                reader.data.CreateDataset(data_pb.CreateDatasetRequest())
            revoked = invoke("token", "revoke", token_id, "--store-url", store_url)
            assert revoked.exit_code == 0 and token_id in revoked.stdout
            with pytest.raises(Unauthenticated):
                reader.data.ListDatasets(data_pb.ListDatasetsRequest())
    finally:
        running.stop(0)

    again = invoke("token", "revoke", token_id, "--store-url", store_url)
    assert "already revoked" in one_error_line(again)
    unknown = invoke("token", "revoke", "0123456789abcdef", "--store-url", store_url)
    assert "no token 0123456789abcdef" in one_error_line(unknown)


def test_bad_input_is_one_line(store_url: str, tmp_path: pathlib.Path) -> None:
    bad = invoke("token", "create", "--workspace", "Team A", "--store-url", store_url)
    assert "is not a workspace name" in one_error_line(bad)
    role = invoke("token", "create", "--workspace", "a", "--role", "root", "--store-url", store_url)
    assert "Invalid value for '--role'" in one_error_line(role)
    missing = f"sqlite:///{tmp_path / 'absent.db'}"
    absent = invoke("token", "list", "--store-url", missing)
    assert "mlspec db upgrade" in one_error_line(absent)
    assert not (tmp_path / "absent.db").exists()
