// A Node.js pipeline step that speaks MLSpec: it creates the resources a training stage
// needs, reports the stage (LifecycleService.ReportStage) and reads the model version's
// lineage back (GetLineage), all through the TypeScript that ts-proto generated from
// proto/ and @grpc/grpc-js.
//
//   node dist/src/report_stage.js HOST:PORT [SUFFIX]
//
// It prints one JSON document: the ids it created, the stored report and the lineage graph
// (every node and edge by kind name). Any failed call ends the process with exit code 1
// and the gRPC status on stderr.

import { credentials, Metadata, ServiceError } from "@grpc/grpc-js";
import { resourceKindToJSON, ResourceKind } from "../gen/mlspec/common/v1/reference";
import {
  CreateDatasetRequest,
  CreateDatasetResponse,
  CreateDatasetVersionRequest,
  CreateDatasetVersionResponse,
  CreateDatastoreRequest,
  CreateDatastoreResponse,
  DataServiceClient,
} from "../gen/mlspec/data/v1/data_service";
import { DatastoreType } from "../gen/mlspec/data/v1/datastore";
import {
  GetLineageRequest,
  GetLineageResponse,
  LifecycleServiceClient,
  ReportStageRequest,
  ReportStageResponse,
} from "../gen/mlspec/lifecycle/v1/lifecycle_service";
import { LineageDirection, lineageEdgeKindToJSON } from "../gen/mlspec/lifecycle/v1/lineage";
import { LifecycleStage, lifecycleStageToJSON } from "../gen/mlspec/lifecycle/v1/stage";
import { StageReportStatus } from "../gen/mlspec/lifecycle/v1/stage_report";
import {
  CreateModelRequest,
  CreateModelResponse,
  CreateModelVersionRequest,
  CreateModelVersionResponse,
  ModelsServiceClient,
} from "../gen/mlspec/models/v1/models_service";
import {
  CreateExperimentRequest,
  CreateExperimentResponse,
  CreateRunRequest,
  CreateRunResponse,
  TrackingServiceClient,
} from "../gen/mlspec/tracking/v1/tracking_service";

type Callback<Res> = (error: ServiceError | null, response: Res) => void;

/** Runs one unary call of a generated grpc-js client and resolves with its response. */
function unary<Res>(invoke: (metadata: Metadata, callback: Callback<Res>) => unknown): Promise<Res> {
  const metadata = new Metadata();
  metadata.set("x-mlspec-workspace", "default");
  return new Promise((resolve, reject) => {
    invoke(metadata, (error, response) => {
      if (error) {
        reject(new Error(`${error.code} ${error.details}`));
      } else {
        resolve(response);
      }
    });
  });
}

async function main(target: string, suffix: string): Promise<void> {
  const insecure = credentials.createInsecure();
  const data = new DataServiceClient(target, insecure);
  const tracking = new TrackingServiceClient(target, insecure);
  const models = new ModelsServiceClient(target, insecure);
  const lifecycle = new LifecycleServiceClient(target, insecure);

  const datastoreRequest = CreateDatastoreRequest.fromPartial({
    datastore: { meta: { name: `lake-${suffix}` }, type: DatastoreType.DATASTORE_TYPE_S3 },
  });
  const { datastore } = await unary<CreateDatastoreResponse>((md, cb) =>
    data.createDatastore(datastoreRequest, md, cb),
  );

  const datasetRequest = CreateDatasetRequest.fromPartial({
    dataset: { meta: { name: `orders-${suffix}` } },
  });
  const { dataset } = await unary<CreateDatasetResponse>((md, cb) =>
    data.createDataset(datasetRequest, md, cb),
  );

  const versionRequest = CreateDatasetVersionRequest.fromPartial({
    datasetVersion: {
      datasetId: dataset!.meta!.id,
      definition: {
        dataPath: {
          datastore: { kind: ResourceKind.RESOURCE_KIND_DATASTORE, name: datastore!.meta!.name },
          path: { relativePath: "orders/2026-11/" },
        },
      },
    },
  });
  const { datasetVersion } = await unary<CreateDatasetVersionResponse>((md, cb) =>
    data.createDatasetVersion(versionRequest, md, cb),
  );

  const experimentRequest = CreateExperimentRequest.fromPartial({
    experiment: { meta: { name: `churn-node-${suffix}` } },
  });
  const { experiment } = await unary<CreateExperimentResponse>((md, cb) =>
    tracking.createExperiment(experimentRequest, md, cb),
  );

  const runRequest = CreateRunRequest.fromPartial({ run: { experimentId: experiment!.meta!.id } });
  const { run } = await unary<CreateRunResponse>((md, cb) => tracking.createRun(runRequest, md, cb));

  const modelRequest = CreateModelRequest.fromPartial({
    model: { meta: { name: `churn-${suffix}` } },
  });
  const { model } = await unary<CreateModelResponse>((md, cb) =>
    models.createModel(modelRequest, md, cb),
  );

  const modelVersionRequest = CreateModelVersionRequest.fromPartial({
    modelVersion: {
      modelId: model!.meta!.id,
      version: { major: 1 },
      artifact: {
        uri: "s3://models/churn/1/model.onnx",
        digest: { digests: { sha256: "9f".repeat(32) } },
      },
    },
  });
  const { modelVersion } = await unary<CreateModelVersionResponse>((md, cb) =>
    models.createModelVersion(modelVersionRequest, md, cb),
  );

  // The training stage: the dataset version in, the model version out.
  const started = new Date(Date.UTC(2026, 10, 27, 10, 0, 0));
  const reportRequest = ReportStageRequest.fromPartial({
    stageReport: {
      stage: LifecycleStage.LIFECYCLE_STAGE_MODEL_TRAINING,
      runId: run!.meta!.id,
      startTime: started,
      endTime: new Date(started.getTime() + 90_000),
      status: StageReportStatus.STAGE_REPORT_STATUS_SUCCEEDED,
      inputs: [
        {
          resource: {
            kind: ResourceKind.RESOURCE_KIND_DATASET_VERSION,
            id: datasetVersion!.meta!.id,
          },
          role: "training-data",
        },
      ],
      outputs: [
        {
          resource: { kind: ResourceKind.RESOURCE_KIND_MODEL_VERSION, id: modelVersion!.meta!.id },
          role: "model",
        },
      ],
      producer: { name: "mlspec-node-client", version: "0.1.0" },
      modelTraining: {
        modelFormat: "onnx",
        outputModel: { kind: ResourceKind.RESOURCE_KIND_MODEL_VERSION, id: modelVersion!.meta!.id },
      },
    },
    requestId: `node-train-${suffix}`,
  });
  const { stageReport: report } = await unary<ReportStageResponse>((md, cb) =>
    lifecycle.reportStage(reportRequest, md, cb),
  );

  // Which data produced the model? Walk the lineage upstream from the model version.
  const lineageRequest = GetLineageRequest.fromPartial({
    start: { kind: ResourceKind.RESOURCE_KIND_MODEL_VERSION, id: modelVersion!.meta!.id },
    direction: LineageDirection.LINEAGE_DIRECTION_UPSTREAM,
    maxDepth: 10,
  });
  const { graph } = await unary<GetLineageResponse>((md, cb) =>
    lifecycle.getLineage(lineageRequest, md, cb),
  );

  const summary = {
    ids: {
      datasetVersion: datasetVersion!.meta!.id,
      run: run!.meta!.id,
      modelVersion: modelVersion!.meta!.id,
      stageReport: report!.meta!.id,
    },
    report: {
      stage: lifecycleStageToJSON(report!.stage),
      name: report!.meta!.name,
      startTime: report!.startTime?.toISOString(),
      inputs: report!.inputs.map((i) => i.resource!.id),
      outputs: report!.outputs.map((o) => o.resource!.id),
    },
    lineage: {
      nodes: graph!.nodes.map((n) => ({
        kind: resourceKindToJSON(n.resource!.kind),
        id: n.resource!.id,
        name: n.name,
        depth: n.depth,
      })),
      edges: graph!.edges.map((e) => ({
        source: e.sourceId,
        target: e.targetId,
        kind: lineageEdgeKindToJSON(e.kind),
      })),
    },
  };
  for (const client of [data, tracking, models, lifecycle]) {
    client.close();
  }
  process.stdout.write(JSON.stringify(summary, null, 2) + "\n");
}

const [target, suffix = "1"] = process.argv.slice(2);
if (!target) {
  process.stderr.write("usage: node dist/src/report_stage.js HOST:PORT [SUFFIX]\n");
  process.exit(2);
}
main(target, suffix).catch((error: Error) => {
  process.stderr.write(`report_stage: ${error.message}\n`);
  process.exit(1);
});
