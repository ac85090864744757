"""KFP pipelines written as KFP users write them, compiled by the real ``kfp`` compiler.

This file runs only inside the kfp virtual environment (``tests/interop/tool_venvs.py``),
never under pytest: ``python kfp_pipelines.py OUT_DIR`` writes one IR YAML per pipeline.
It does not import mlspec. It has no ``from __future__ import annotations``: KFP reads
the components' annotations as objects.
"""

import sys
from pathlib import Path

from kfp import compiler, dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output


@dsl.component(base_image="python:3.11")
def add(a: float, b: float) -> float:
    """Adds two numbers."""
    return a + b


@dsl.component(base_image="python:3.11")
def make_data(rows: int, data: Output[Dataset]) -> None:
    """Writes a small CSV."""
    with open(data.path, "w") as f:
        f.write("x,y\n" + "".join(f"{i},{2 * i}\n" for i in range(rows)))
    data.metadata["rows"] = rows


@dsl.component(base_image="python:3.11")
def train(
    data: Input[Dataset], learning_rate: float, model: Output[Model], metrics: Output[Metrics]
) -> float:
    """Pretends to train."""
    with open(model.path, "w") as f:
        f.write(f"lr={learning_rate}")
    metrics.log_metric("accuracy", 0.9)
    return 0.9


@dsl.component(base_image="python:3.11")
def report(message: str) -> None:
    """Prints a message."""
    print(message)


@dsl.container_component
def shout(text: str):
    """A container component: the code is the image."""
    return dsl.ContainerSpec(image="alpine:3.20", command=["echo"], args=[text])


@dsl.pipeline(name="add-numbers", description="Adds numbers, the hello world of KFP.")
def add_numbers(a: float = 1.0, b: float = 7.0) -> float:
    first = add(a=a, b=b)
    second = add(a=first.output, b=b)
    return second.output


@dsl.pipeline(name="train-and-gate")
def train_and_gate(rows: int = 100, learning_rate: float = 0.01, threshold: float = 0.5) -> None:
    data = make_data(rows=rows)
    data.set_caching_options(False)
    trained = train(data=data.outputs["data"], learning_rate=learning_rate)
    trained.set_retry(num_retries=3, backoff_duration="30s", backoff_factor=2.0)
    trained.set_cpu_limit("2").set_memory_limit("4G")
    with dsl.If(trained.outputs["Output"] >= threshold, name="good-enough"):
        report(message="the model is good enough")
    with dsl.Else():
        shout(text="the model is not good enough")


@dsl.pipeline(name="inner")
def inner(message: str) -> None:
    report(message=message)


@dsl.pipeline(name="fan-out")
def fan_out(messages: list = ["a", "b", "c"]) -> None:  # noqa: B006 - KFP reads the default
    with dsl.ParallelFor(items=messages, parallelism=2) as item:
        inner(message=item)
    with dsl.ParallelFor(items=[1.0, 2.0]) as number:
        add(a=number, b=10.0)


@dsl.component(base_image="python:3.11")
def cleanup(status: dsl.PipelineTaskFinalStatus) -> None:
    """Runs last, whatever happened."""
    print(status.state)


@dsl.component(base_image="python:3.11")
def score(model: Input[Model]) -> float:
    """Reads a model."""
    with open(model.path) as f:
        return float(len(f.read()))


@dsl.pipeline(name="score-model")
def score_model(model: Input[Model]) -> float:
    return score(model=model).output


@dsl.pipeline(name="exit-and-import")
def exit_and_import(learning_rate: float = 0.1) -> None:
    final = cleanup()
    with dsl.ExitHandler(final):
        data = dsl.importer(
            artifact_uri="gs://example-bucket/data.csv", artifact_class=Dataset, reimport=False
        )
        trained = train(data=data.output, learning_rate=learning_rate)
        trained.set_accelerator_type("nvidia.com/gpu").set_accelerator_limit(1)
        score_model(model=trained.outputs["model"])


PIPELINES = {
    "add_numbers": add_numbers,
    "train_and_gate": train_and_gate,
    "fan_out": fan_out,
    "exit_and_import": exit_and_import,
}


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, pipeline in PIPELINES.items():
        compiler.Compiler().compile(pipeline, str(out / f"{name}.yaml"))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
