"""``make demo``: serve a store of its own, run the pipeline through it, print the lineage.

Usage: ``python examples/pipeline/demo.py [--work DIR] [--runs N] [--requests N]``

1. migrates the demo's own embedded SQLite store (``DIR/mlspec.db``, default
   ``build/demo``; never the default store of ``make serve``) and makes a key pair for
   signing the model package (``DIR/keys``) once;
2. starts ``mlspec serve`` on free ports (``--port 0 --http-port 0``), trusting that key,
   and reads its address from the server's log (``DIR/server.log``);
3. runs ``pipeline.run_pipeline`` ``N`` times (default 1) against it, printing the stage
   reports of each run;
4. prints the lineage tree of the model version;
5. trains a deliberately worse version (``worse_model.py``) and prints why the deployment
   gate refuses to package it;
6. stops the server with SIGTERM, also when anything above failed.

Everything is got or created by name and content, so running the demo again against the
same folder works and adds a run; delete the folder to start afresh.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pathlib
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
LISTENING = re.compile(r"listening on (\S+):(\d+)")


@contextlib.contextmanager
def server(work: pathlib.Path, public_key: pathlib.Path) -> Iterator[str]:
    """A running ``mlspec serve`` on the demo's store; yields its ``host:port``."""
    url = f"sqlite:///{work / 'mlspec.db'}"
    command = [sys.executable, "-m", "mlspec.cli"]
    subprocess.run([*command, "db", "upgrade", "--store-url", url], check=True)
    log = work / "server.log"
    serve = ["serve", "--port", "0", "--http-port", "0", "--store-url", url]
    with log.open("w") as out:
        process = subprocess.Popen(
            [*command, *serve, "--trusted-key", str(public_key)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "MLSPEC_LOG_LEVEL": "info"},
        )
    try:
        yield _address(process, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _address(process: subprocess.Popen[bytes], log: pathlib.Path) -> str:
    """The address the server listens on, from its log (waits up to 60 s)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = LISTENING.search(log.read_text(errors="replace"))
        if found:
            return f"{found.group(1)}:{found.group(2)}"
        if process.poll() is not None:
            raise RuntimeError(f"mlspec serve exited ({process.returncode}); see {log}")
        time.sleep(0.1)
    raise RuntimeError(f"mlspec serve did not start within 60 s; see {log}")


def main(argv: list[str] | None = None) -> int:
    """Runs the demo (see the module documentation); returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=pathlib.Path, default=ROOT / "build" / "demo")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--requests", type=int, default=0, help="scored requests per run")
    args = parser.parse_args(argv)
    work: pathlib.Path = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(HERE))
    import pipeline  # beside this file; imports scikit-learn, so only now

    pipeline.REQUESTS = args.requests or pipeline.REQUESTS

    from mlspec.client import Client, Stage
    from mlspec.lifecycle.v1.stage_pb2 import LifecycleStage
    from mlspec.lifecycle.v1.stage_report_pb2 import StageReportStatus

    started = time.monotonic()
    private, public = pipeline.signing_key(work / "keys")
    with server(work, public) as target, Client(target) as client:
        print(f"mlspec serve on {target}, store {work / 'mlspec.db'}")
        for number in range(1, args.runs + 1):
            began = time.monotonic()
            model, run = pipeline.run_pipeline(client, work / "files", private)
            print(
                f"\nrun {run.meta.id} ({number} of {args.runs}, {time.monotonic() - began:.1f} s)"
            )
            reports = sorted(client.stage_reports(run=run), key=lambda r: r.stage)
            if not any(r.stage == LifecycleStage.LIFECYCLE_STAGE_MODEL_TEST for r in reports):
                # The hold-back set is used once per model version: an earlier run's test.
                test = client.latest_stage_report(Stage.MODEL_TEST, model_version=model)
                reports = sorted([*reports, *([test] if test else [])], key=lambda r: r.stage)
            for report in reports:
                stage = LifecycleStage.Name(report.stage).removeprefix("LIFECYCLE_STAGE_")
                status = StageReportStatus.Name(report.status).removeprefix("STAGE_REPORT_STATUS_")
                reused = "" if report.run_id == run.meta.id else f"  (reused, run {report.run_id})"
                print(f"  {report.stage:2d} {stage:<22} {status:<9} {report.meta.name}{reused}")
            print(
                f"  12 MONITORING             {pipeline.REQUESTS} predictions, their feedback, signals"
            )
            print(
                f"  13 INFERENCE_LOGGING      {pipeline.REQUESTS} records in stream {pipeline.SCORER}"
            )
        print(f"\nlineage of model version {model.meta.id} ({pipeline.MODEL} 1.0.0), upstream:")
        print(client.lineage(model, depth=12).tree())
        import worse_model  # beside this file

        print(
            f"\nthe gate refuses {pipeline.MODEL} {worse_model.VERSION}, trained on "
            f"{worse_model.ONLY} alone:"
        )
        for reason in worse_model.refused_packaging(client, work / "files", private):
            print(f"  {reason}")
    print(f"\ndemo done in {time.monotonic() - started:.1f} s; the store stays in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
