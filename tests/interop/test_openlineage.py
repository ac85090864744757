"""OpenLineage: the service emits a START and an end RunEvent per stage report (to a file
or an HTTP endpoint), every event validates against the OpenLineage JSON schema, and
``mlspec import openlineage`` reads them back into another server with their lineage.
"""

from __future__ import annotations

import http.server
import json
import pathlib
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from mlspec.cli.root import cli
from mlspec.client import Client
from mlspec.common.v1 import run_state_pb2
from mlspec.data.v1 import data_service_pb2 as dpb
from mlspec.interop import openlineage
from mlspec.lifecycle.v1 import lifecycle_service_pb2 as lc
from mlspec.lifecycle.v1 import stage_pb2, stage_report_pb2
from mlspec.server.app import RunningServer, build_server
from mlspec.server.config import ServerConfig
from mlspec.store.sql import SqlStore
from mlspec.tracking.v1 import tracking_service_pb2 as tpb
from tests.server.messages import make

SPEC = pathlib.Path(__file__).parent / "openlineage_spec"


class OpenLineageSchema:
    """The RunEvent schema and the facet schemas, resolved from the local spec files."""

    def __init__(self) -> None:
        documents = [
            json.loads(p.read_text())
            for p in [SPEC / "OpenLineage.json", *sorted((SPEC / "facets").glob("*.json"))]
        ]
        registry: Registry[Any] = Registry().with_resources(
            (doc["$id"], Resource.from_contents(doc)) for doc in documents
        )
        core = documents[0]
        self.event = Draft202012Validator(
            {"$ref": f"{core['$id']}#/$defs/RunEvent"}, registry=registry
        )
        self.facets = {
            name: Draft202012Validator({"$ref": f"{doc['$id']}#/$defs/{name}"}, registry=registry)
            for doc in documents[1:]
            for name in doc["$defs"]
            if name.endswith("Facet")
        }

    def check(self, event: dict[str, Any]) -> list[str]:
        """Every facet of the event checked against its own schema; returns the names checked."""
        self.event.validate(event)
        checked = []
        facets = [
            *(event["run"].get("facets") or {}).values(),
            *(event["job"].get("facets") or {}).values(),
        ]
        for side, extra in (("inputs", "inputFacets"), ("outputs", "outputFacets")):
            for dataset in event.get(side) or []:
                facets += [
                    *(dataset.get("facets") or {}).values(),
                    *(dataset.get(extra) or {}).values(),
                ]
        for facet in facets:
            name = facet["_schemaURL"].rsplit("/", 1)[-1]
            if name in self.facets:
                self.facets[name].validate(facet)
                checked.append(name)
        return checked


@pytest.fixture(scope="module")
def schema() -> OpenLineageSchema:
    return OpenLineageSchema()


def serve(tmp_path: pathlib.Path, **lineage: str) -> RunningServer:
    url = f"sqlite:///{tmp_path / 'emitting.db'}"
    store = SqlStore(url)
    store.upgrade()
    return build_server(ServerConfig(port=0, store_url=url, **lineage), store=store)  # type: ignore[arg-type]


def ingestion(run_id: str, raw_id: str) -> lc.ReportStageRequest:
    """The ingestion report of ``report_chain`` (with its request_id, so it can be retried)."""
    raw = {"kind": "RESOURCE_KIND_ARTIFACT", "id": raw_id}
    return make(
        lc.ReportStageRequest,
        {
            "stage_report": {
                "stage": "LIFECYCLE_STAGE_DATA_INGESTION",
                "run_id": run_id,
                "start_time": "2026-03-01T10:00:00Z",
                "end_time": "2026-03-01T10:01:00Z",
                "status": "STAGE_REPORT_STATUS_SUCCEEDED",
                "outputs": [{"resource": raw}],
                "data_ingestion": {
                    "connector": {
                        "type": "INGESTION_CONNECTOR_TYPE_OTHER",
                        "name": "s3",
                        "version": "1",
                    },
                    "sources": [{"name": "lake", "uri": "s3://lake/churn/raw.csv"}],
                    "dataset_digest": {"digests": {"sha256": "a" * 64}},
                    "start_time": "2026-03-01T10:00:00Z",
                    "end_time": "2026-03-01T10:01:00Z",
                    "output_dataset": raw,
                },
            },
            "request_id": "ingest-1",
        },
    )


def report_chain(client: Client) -> dict[str, str]:
    """Ingestion -> analysis -> a failed training, through ReportStage and BatchReportStages."""
    exp = client.get_or_create_experiment("churn")
    run = client.tracking.CreateRun(
        make(tpb.CreateRunRequest, {"run": {"experiment_id": exp.meta.id}})
    ).run
    raw = client.data.CreateArtifact(
        make(
            dpb.CreateArtifactRequest,
            {
                "artifact": {
                    "meta": {"name": "raw"},
                    "run_id": run.meta.id,
                    "type": "ARTIFACT_TYPE_DATASET",
                    "uri": "s3://lake/churn/raw.csv",
                    "size_bytes": 2048,
                    "row_count": 100,
                    "schema": {
                        "schema_version": "1",
                        "origin": "SCHEMA_ORIGIN_CURATED",
                        "features": [
                            {"name": "age", "type": "FEATURE_TYPE_INT"},
                            {"name": "plan", "type": "FEATURE_TYPE_STRING"},
                        ],
                    },
                }
            },
        )
    ).artifact
    model = client.data.CreateArtifact(
        make(
            dpb.CreateArtifactRequest,
            {
                "artifact": {
                    "meta": {"name": "model"},
                    "run_id": run.meta.id,
                    "type": "ARTIFACT_TYPE_MODEL",
                    "uri": "s3://lake/churn/model.onnx",
                }
            },
        )
    ).artifact

    def body(stage: str, start: str, **fields: Any) -> dict[str, Any]:
        return {
            "stage": stage,
            "run_id": run.meta.id,
            "start_time": start,
            "status": "STAGE_REPORT_STATUS_SUCCEEDED",
            **fields,
        }

    raw_ref = {"resource": {"kind": "RESOURCE_KIND_ARTIFACT", "id": raw.meta.id}}
    client.lifecycle.ReportStage(ingestion(run.meta.id, raw.meta.id))
    client.lifecycle.BatchReportStages(
        make(
            lc.BatchReportStagesRequest,
            {
                "stage_reports": [
                    body(
                        "LIFECYCLE_STAGE_DATA_ANALYSIS",
                        "2026-03-01T10:02:00Z",
                        end_time="2026-03-01T10:03:00Z",
                        inputs=[raw_ref],
                        data_analysis={
                            "dataset": raw_ref["resource"],
                            "statistics": [
                                {
                                    "num_examples": 100,
                                    "features": [
                                        {
                                            "path": {"steps": ["age"]},
                                            "type": "FEATURE_TYPE_INT",
                                            "common_stats": {
                                                "num_missing": 3,
                                                "num_non_missing": 97,
                                            },
                                            "num_stats": {
                                                "min": 18,
                                                "max": 90,
                                                "median": 41,
                                                "present_fields": ["min", "max", "median"],
                                            },
                                        }
                                    ],
                                }
                            ],
                        },
                    ),
                    body(
                        "LIFECYCLE_STAGE_MODEL_TRAINING",
                        "2026-03-01T10:04:00Z",
                        end_time="2026-03-01T10:09:00Z",
                        status="STAGE_REPORT_STATUS_FAILED",
                        error_message="out of memory",
                        inputs=[raw_ref],
                        outputs=[
                            {"resource": {"kind": "RESOURCE_KIND_ARTIFACT", "id": model.meta.id}}
                        ],
                        model_training={"model_format": "onnx"},
                    ),
                ]
            },
        )
    )
    return {"raw": raw.meta.id, "model": model.meta.id, "run": run.meta.id}


def read_events(path: pathlib.Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_every_report_is_a_start_and_an_end_event_that_validates(
    tmp_path: pathlib.Path, schema: OpenLineageSchema
) -> None:
    path = tmp_path / "lineage.jsonl"
    running = serve(tmp_path, openlineage_file=str(path))
    try:
        with Client(f"127.0.0.1:{running.port}", timeout=30) as client:
            ids = report_chain(client)
            # A retry answered from its request_id stores nothing new and emits nothing.
            again = ingestion(ids["run"], ids["raw"])
            client.lifecycle.ReportStage(again)
    finally:
        running.stop(0)
    events = read_events(path)
    assert [(e["job"]["name"], e["eventType"]) for e in events] == [
        ("default.data-ingestion", "START"),
        ("default.data-ingestion", "COMPLETE"),
        ("default.data-analysis", "START"),
        ("default.data-analysis", "COMPLETE"),
        ("default.model-training", "START"),
        ("default.model-training", "FAIL"),
    ]
    checked: set[str] = set()
    for event in events:
        checked.update(schema.check(event))
    assert checked == {
        "DatasourceDatasetFacet",
        "SchemaDatasetFacet",
        "DataQualityMetricsInputDatasetFacet",
        "OutputStatisticsOutputDatasetFacet",
        "ErrorMessageRunFacet",
        "ParentRunFacet",
        "ProcessingEngineRunFacet",
        "JobTypeJobFacet",
    }
    ingest_end = events[1]
    raw = ingest_end["outputs"][0]
    assert (raw["namespace"], raw["name"]) == ("s3://lake", "churn/raw.csv")
    assert [f["name"] for f in raw["facets"]["schema"]["fields"]] == ["age", "plan"]
    analysis_input = events[3]["inputs"][0]["inputFacets"]["dataQualityMetrics"]
    assert analysis_input["rowCount"] == 100 and analysis_input["bytes"] == 2048
    assert analysis_input["columnMetrics"]["age"] == {
        "nullCount": 3,
        "count": 97.0,
        "min": 18.0,
        "max": 90.0,
        "quantiles": {"0.5": 41.0},
    }
    assert events[5]["run"]["facets"]["errorMessage"]["message"] == "out of memory"
    assert events[5]["run"]["facets"]["parent"]["run"]["runId"] == ids["run"]
    assert events[5]["eventTime"] == "2026-03-01T10:09:00Z"


class Collector(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, dict[str, Any]]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        Collector.received.append((self.path, json.loads(self.rfile.read(length))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        del args


@pytest.fixture
def collector() -> Iterator[str]:
    Collector.received = []
    httpd = http.server.HTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_events_go_to_an_http_endpoint(
    tmp_path: pathlib.Path, collector: str, schema: OpenLineageSchema
) -> None:
    running = serve(tmp_path, openlineage_url=collector)
    try:
        with Client(f"127.0.0.1:{running.port}", timeout=30) as client:
            report_chain(client)
    finally:
        running.stop(0)
    assert len(Collector.received) == 6
    assert {path for path, _ in Collector.received} == {"/api/v1/lineage"}
    for _, event in Collector.received:
        schema.check(event)


def emitted(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "emitted.jsonl"
    running = serve(tmp_path, openlineage_file=str(path))
    try:
        with Client(f"127.0.0.1:{running.port}", timeout=30) as client:
            report_chain(client)
    finally:
        running.stop(0)
    return path


def test_events_read_back_into_another_server_with_their_lineage(
    tmp_path: pathlib.Path, client: Client
) -> None:
    path = emitted(tmp_path)
    first = openlineage.import_events(client, openlineage.parse(path.read_text()), str(path))
    assert first.events == 6
    assert first.counts.created == {"Experiment": 1, "Run": 1, "Artifact": 2, "StageReport": 3}
    again = openlineage.import_events(client, openlineage.parse(path.read_text()), str(path))
    assert again.counts.total_created == 0
    reports = client.lifecycle.ListStageReports(
        lc.ListStageReportsRequest(page_size=10)
    ).stage_reports
    by_stage = {stage_pb2.LifecycleStage.Name(r.stage): r for r in reports}
    training = by_stage["LIFECYCLE_STAGE_MODEL_TRAINING"]
    assert training.status == stage_report_pb2.STAGE_REPORT_STATUS_FAILED
    assert training.error_message == "out of memory"
    assert training.start_time.ToJsonString() == "2026-03-01T10:04:00Z"
    assert training.model_training.model_format == "onnx"
    raw = training.inputs[0].resource.id
    ingestion = by_stage["LIFECYCLE_STAGE_DATA_INGESTION"]
    assert ingestion.outputs[0].resource.id == raw
    graph = client.lineage(training.outputs[0].resource, direction="upstream", depth=10)
    assert raw in {n.id for n in graph.nodes}  # the model comes from the ingested data
    analysis = by_stage["LIFECYCLE_STAGE_DATA_ANALYSIS"]
    assert analysis.inputs[0].resource.id == training.inputs[0].resource.id
    assert analysis.data_analysis.statistics[0].features[0].num_stats.max == 90


def test_events_of_other_producers_become_runs_and_artifacts(client: Client) -> None:
    producer = "https://github.com/apache/spark"
    base = {
        "producer": producer,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
    }
    job = {"namespace": "spark://cluster", "name": "etl.orders.daily"}
    run_id = "0190d5a5-aaaa-7bbb-8ccc-123456789abc"
    events = [
        {
            **base,
            "eventType": "START",
            "eventTime": "2026-02-01T00:00:00.000Z",
            "run": {"runId": run_id},
            "job": job,
            "inputs": [{"namespace": "postgres://db:5432", "name": "shop.public.orders"}],
        },
        {
            **base,
            "eventType": "COMPLETE",
            "eventTime": "2026-02-01T00:10:00.000Z",
            "run": {"runId": run_id},
            "job": job,
            "outputs": [
                {
                    "namespace": "s3://warehouse",
                    "name": "orders/daily",
                    "facets": {
                        "schema": {
                            "_producer": producer,
                            "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json",
                            "fields": [{"name": "order_id", "type": "long"}],
                        }
                    },
                    "outputFacets": {
                        "outputStatistics": {
                            "_producer": producer,
                            "_schemaURL": "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json",
                            "rowCount": 1234,
                            "size": 99,
                        }
                    },
                }
            ],
        },
    ]
    result = openlineage.import_events(client, events)
    assert result.counts.created == {"Experiment": 1, "Run": 1, "Artifact": 1}
    run = client.tracking.GetRun(
        make(tpb.GetRunRequest, {"external_id": {"system": "openlineage", "id": run_id}})
    ).run
    assert run.state == run_state_pb2.RUN_STATE_SUCCEEDED
    assert run.end_time.ToJsonString() == "2026-02-01T00:10:00Z"
    assert [i.source_uri for i in run.inputs] == ["postgres://db:5432/shop.public.orders"]
    artifact = client.data.ListArtifacts(dpb.ListArtifactsRequest(run_id=run.meta.id)).artifacts[0]
    assert artifact.uri == "s3://warehouse/orders/daily" and artifact.row_count == 1234
    assert [f.name for f in artifact.schema.features] == ["order_id"]
    experiment = client.tracking.GetExperiment(
        tpb.GetExperimentRequest(id=run.experiment_id)
    ).experiment
    assert experiment.meta.display_name == "spark://cluster/etl.orders.daily"


def test_the_import_command(tmp_path: pathlib.Path, server: RunningServer) -> None:
    path = emitted(tmp_path)
    runner = CliRunner()
    target = f"127.0.0.1:{server.port}"
    done = runner.invoke(cli, ["--server", target, "import", "openlineage", str(path)])
    assert done.exit_code == 0, done.output
    assert "6 events" in done.output and "StageReport" in done.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"eventType": "START"}\n')
    failed = runner.invoke(cli, ["--server", target, "import", "openlineage", str(bad)])
    assert failed.exit_code == 1 and "not an OpenLineage RunEvent" in failed.stderr


@given(st.text())
def test_parse_reads_events_or_says_why_not(text: str) -> None:
    try:
        events = openlineage.parse(text)
    except openlineage.EventFormatError as exc:
        assert str(exc)
    else:
        assert all("run" in e and "job" in e for e in events)
