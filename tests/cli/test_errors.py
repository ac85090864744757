"""One table turns every exception into the line after ``mlspec:`` and an exit code."""

from __future__ import annotations

import pathlib

import grpc
import pytest

from mlspec.cli.errors import CliError, StoreFailure, describe, mask_url, one_line
from mlspec.data.v1 import data_service_pb2, data_service_pb2_grpc
from mlspec.yaml_format import ParseError
from tests.server.messages import make

from .conftest import invoke, one_error_line


def test_a_server_error_names_its_code_and_field_violations(channel: grpc.Channel) -> None:
    data = data_service_pb2_grpc.DataServiceStub(channel)
    with pytest.raises(grpc.RpcError) as caught:
        data.CreateDataset(
            make(data_service_pb2.CreateDatasetRequest, {"dataset": {"meta": {"name": "-bad"}}})
        )
    failure = describe(caught.value)
    assert failure.message.startswith("INVALID_ARGUMENT: ")
    assert "(dataset.meta.name: " in failure.message
    assert "\n" not in failure.message
    assert failure.exit_code == 1


def test_not_found_is_code_then_message(channel: grpc.Channel) -> None:
    data = data_service_pb2_grpc.DataServiceStub(channel)
    with pytest.raises(grpc.RpcError) as caught:
        data.GetDataset(data_service_pb2.GetDatasetRequest(name="absent"))
    assert describe(caught.value).message.startswith("NOT_FOUND: ")


def test_an_unreachable_server_says_where_to_point() -> None:
    result = invoke("--server", "127.0.0.1:1", "health", "--timeout", "5")
    line = one_error_line(result)
    assert line.startswith("mlspec: UNAVAILABLE: ")
    assert "--server (MLSPEC_TARGET)" in line


def test_usage_errors_are_one_line_with_exit_2() -> None:
    result = invoke("no-such-command")
    assert result.exit_code == 2
    assert (
        one_error_line(result) == "mlspec: No such command 'no-such-command' (see 'mlspec --help')"
    )
    result = invoke("serve", "--port", "70000")
    assert result.exit_code == 2
    assert one_error_line(result).startswith("mlspec: serve: Invalid value for '--port'")


def test_a_missing_file_is_one_line(tmp_path: pathlib.Path) -> None:
    result = invoke("validate", str(tmp_path / "absent.yaml"))
    assert result.exit_code == 2
    assert "absent.yaml' does not exist" in one_error_line(result)
    assert describe(FileNotFoundError(2, "No such file or directory", "x.yaml")).message == (
        "x.yaml: No such file or directory"
    )


def test_bad_store_urls_are_one_line_each(tmp_path: pathlib.Path) -> None:
    for url, expected in [
        ("notaurl", "not a store URL"),
        ("nosuchdb://host/db", "not a kind of database this server knows"),
    ]:
        result = invoke("db", "current", "--store-url", url)
        assert one_error_line(result).startswith(f"mlspec: store {url}: {expected}")


def test_passwords_never_show() -> None:
    assert mask_url("postgresql+psycopg://me:s3cret@db/x") == "postgresql+psycopg://me:***@db/x"
    assert mask_url("sqlite:///a/b.db") == "sqlite:///a/b.db"
    try:
        raise StoreFailure("postgresql://me:s3cret@db/x") from ParseError("broken")
    except StoreFailure as exc:
        assert "s3cret" not in describe(exc).message


def test_own_errors_keep_their_exit_code_and_unknown_ones_ask_for_debug() -> None:
    assert describe(CliError("no store at x", 2)).exit_code == 2
    failure = describe(ZeroDivisionError("division by zero"))
    assert failure.message.startswith("unexpected error ZeroDivisionError: division by zero")
    assert "--debug" in failure.message
    assert describe(RuntimeError("something else")).message.startswith("unexpected error")
    assert describe(KeyboardInterrupt()).exit_code == 130


def test_one_line_joins_lines() -> None:
    assert one_line("a\n\n  b\n") == "a; b"
