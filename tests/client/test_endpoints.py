"""mlspec.client.endpoints: a pipeline step's /ok, /varz and /metrics, read over HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families

from mlspec.client import endpoints


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_a_step_exposes_its_health_variables_and_metrics() -> None:
    registry = CollectorRegistry()
    scored = Counter("scorer_requests", "Requests scored.", registry=registry)
    ready = {"now": False}
    loaded = {"version": "1.4.0"}
    with endpoints.serve(
        name="churn-scorer",
        version="2.3.1",
        check=lambda: None if ready["now"] else "model loading",
        variables=lambda: {"model": loaded, "batch_size": 32},
        registry=registry,
    ) as server:
        status, body = fetch(f"{server.url}/ok")
        assert status == 503 and json.loads(body)["message"] == "model loading"
        ready["now"] = True
        assert fetch(f"{server.url}/ok")[0] == 200

        varz = json.loads(fetch(f"{server.url}/varz")[1])
        assert (varz["name"], varz["version"]) == ("churn-scorer", "2.3.1")
        assert varz["variables"] == {"model.version": "1.4.0", "batch_size": 32}
        loaded["version"] = "1.5.0"  # variables are read at each request
        assert json.loads(fetch(f"{server.url}/varz")[1])["variables"]["model.version"] == "1.5.0"

        scored.inc(3)
        text = fetch(f"{server.url}/metrics")[1].decode()
        families = {f.name: f for f in text_string_to_metric_families(text)}
        [total] = [s for s in families["scorer_requests"].samples if s.name.endswith("_total")]
        assert total.value == 3


def test_a_failing_check_is_unhealthy_with_its_reason() -> None:
    def check() -> None:
        raise RuntimeError("feature store\nunreachable")

    with endpoints.serve(check=check, registry=CollectorRegistry()) as server:
        status, body = fetch(f"{server.url}/ok")
    answer = json.loads(body)
    assert status == 503 and answer["message"] == "RuntimeError: feature store unreachable"


def test_closing_releases_the_port() -> None:
    server = endpoints.serve(registry=CollectorRegistry())
    port = server.port
    server.close()
    again = endpoints.serve(port, registry=CollectorRegistry())
    try:
        assert again.port == port
    finally:
        again.close()
