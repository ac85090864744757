"""Importers and exporters between MLSpec and the systems it learned from.

Each module maps one system's records onto the contract and talks to a metadata service
through the SDK (``mlspec.client``), so it works against any server:

- ``kfp``: a compiled Kubeflow Pipelines v2 pipeline (the IR YAML) as modules, module
  versions and a published pipeline;
- ``mlflow``: an MLflow tracking store (experiments, runs, metrics, artifacts, registered
  model versions) through ``ResourceService.ImportResource``;
- ``openlineage``: OpenLineage RunEvents read back as runs, datasets and stage reports
  (the service emits them: ``mlspec.server.openlineage``);
- ``luigi``: event handlers that report a Luigi pipeline's tasks as runs with their
  inputs and outputs, with no change to the tasks' code;
- ``tfmd``: TF Metadata's Schema, DatasetFeatureStatisticsList and Anomalies converted
  to and from MLSpec's messages, with what is lost listed.

Every imported object carries its source identity in ``meta.external_id`` (system, id,
URI), which makes a second import of the same source add nothing. This package imports
the contract and the client only (``.importlinter``); the third-party packages of a
system (kfp, mlflow, openlineage-python, luigi, tensorflow-metadata) are imported lazily by the code that needs them.
"""
