"""TLS and mutual TLS of a real server, through the SDK as users connect; plaintext rules."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from mlspec.client import TLS, Client, Unavailable
from mlspec.server.app import RunningServer, build_server
from mlspec.server.config import ConfigError, ServerConfig
from mlspec.server.tls import is_loopback
from mlspec.store.sql import SqlStore
from mlspec.tracking.v1 import tracking_service_pb2 as tr
from tests.tls_certs import Authority, Pair


@dataclass
class Pki:
    ca: Authority
    other_ca: Authority
    server: Pair
    client: Pair
    stranger: Pair  # a client certificate from a CA the server does not trust


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca, other = Authority.create(folder, "main"), Authority.create(folder, "other")
    return Pki(
        ca,
        other,
        ca.issue("server", server=True),
        ca.issue("pipeline-step", server=False),
        other.issue("intruder", server=False),
    )


def _serve(tmp_path: pathlib.Path, **settings: str) -> RunningServer:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = SqlStore(url)
    store.upgrade()
    return build_server(ServerConfig(port=0, store_url=url, **settings), store=store)


def _works(port: int, tls: object) -> bool:
    with Client(f"localhost:{port}", tls=tls, timeout=5.0) as client:
        try:
            client.tracking.ListExperiments(tr.ListExperimentsRequest())
        except Unavailable:
            return False
        return True


@pytest.fixture
def tls_server(tmp_path: pathlib.Path, pki: Pki) -> Iterator[RunningServer]:
    running = _serve(tmp_path, tls_cert=pki.server.cert, tls_key=pki.server.key)
    yield running
    running.stop(0)


@pytest.fixture
def mtls_server(tmp_path: pathlib.Path, pki: Pki) -> Iterator[RunningServer]:
    running = _serve(
        tmp_path, tls_cert=pki.server.cert, tls_key=pki.server.key, tls_client_ca=pki.ca.cert
    )
    yield running
    running.stop(0)


def test_tls_serves_clients_that_trust_its_ca_only(tls_server: RunningServer, pki: Pki) -> None:
    assert _works(tls_server.port, pki.ca.cert)
    assert _works(tls_server.port, TLS(ca=pki.ca.cert))
    assert not _works(tls_server.port, TLS(ca=pki.other_ca.cert))  # a server it cannot verify
    assert not _works(tls_server.port, False)  # plaintext to a TLS port


def test_mutual_tls_needs_a_client_certificate_from_its_ca(
    mtls_server: RunningServer, pki: Pki
) -> None:
    assert _works(mtls_server.port, TLS(ca=pki.ca.cert, cert=pki.client.cert, key=pki.client.key))
    assert not _works(mtls_server.port, TLS(ca=pki.ca.cert))
    stranger = TLS(ca=pki.ca.cert, cert=pki.stranger.cert, key=pki.stranger.key)
    assert not _works(mtls_server.port, stranger)


def test_the_client_reads_tls_settings_from_the_environment(
    mtls_server: RunningServer, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLSPEC_TLS_CA", pki.ca.cert)
    monkeypatch.setenv("MLSPEC_TLS_CERT", pki.client.cert)
    monkeypatch.setenv("MLSPEC_TLS_KEY", pki.client.key)
    assert _works(mtls_server.port, None)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"host": "0.0.0.0"}, "refusing to serve plaintext on 0.0.0.0"),
        ({"tls_cert": "x.pem"}, "needs both --tls-cert and --tls-key"),
        ({"tls_client_ca": "ca.pem"}, "needs --tls-cert and --tls-key"),
        ({"tls_cert": "/absent.pem", "tls_key": "/absent.key"}, "cannot read --tls-key"),
    ],
)
def test_settings_that_cannot_work_are_refused_before_the_store_opens(
    tmp_path: pathlib.Path, settings: dict[str, str], message: str
) -> None:
    url = f"sqlite:///{tmp_path / 'never' / 'store.db'}"
    with pytest.raises(ConfigError, match=message):
        build_server(ServerConfig(port=0, store_url=url, **settings))
    assert not (tmp_path / "never").exists()


def test_plaintext_elsewhere_than_loopback_only_when_asked(tmp_path: pathlib.Path) -> None:
    from mlspec.client import Unauthenticated

    running = _serve(tmp_path, host="0.0.0.0", insecure=True, auth="token")
    try:
        # The plaintext port answers (and, off loopback, asks for a token).
        with (
            Client(f"127.0.0.1:{running.port}", tls=False, timeout=5.0) as client,
            pytest.raises(Unauthenticated),
        ):
            client.tracking.ListExperiments(tr.ListExperimentsRequest())
    finally:
        running.stop(0)


def test_loopback_addresses() -> None:
    assert all(map(is_loopback, ["127.0.0.1", "127.3.2.1", "::1", "[::1]", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "10.0.0.1", "example.com", ""]))
