"""Prints messages the way ``--output`` asks: a table, proto3 JSON or YAML.

``render`` takes one message or a list of them. JSON is one document (a list becomes a
JSON array); YAML is one YAML document per message (``---`` between them, so that
``mlspec validate`` and ``yaml_format.load`` read them back). A table shows resources,
any message with ``meta`` (``mlspec.common.v1.ObjectMeta``), one row each with their kind,
id, name, status and creation time; other messages get a field/value table each
(``detail_table`` gives that view of a resource too). Printed to a pipe or a file, tables
are as wide as their content (no folding) and lines carry no trailing blanks.

``dot`` (Graphviz) is an output of ``mlspec lineage`` only: ``check_output`` refuses it
for any other command, and ``render`` never prints it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from rich.console import Console
from rich.table import Table

from mlspec import yaml_format
from mlspec.cli.errors import USAGE_EXIT, CliError

__all__ = [
    "ALL_OUTPUTS",
    "DOT",
    "OUTPUTS",
    "check_output",
    "chosen_output",
    "detail_table",
    "format_json",
    "format_yaml",
    "is_resource",
    "output_option",
    "print_tables",
    "render",
    "stdout",
    "tables",
]

OUTPUTS = ("table", "json", "yaml")
DOT = "dot"
ALL_OUTPUTS = (*OUTPUTS, DOT)
DOT_COMMANDS = frozenset({"lineage"})
F = TypeVar("F", bound=Callable[..., Any])
WIDE = 4096  # the width of tables printed to a pipe or a file
META_TYPE = "mlspec.common.v1.ObjectMeta"
RESOURCE_COLUMNS = ("KIND", "ID", "NAME", "STATUS", "CREATED")
_STATUS_PREFIX = "OBJECT_STATUS_"


def render(
    messages: Message | Sequence[Message], output: str, console: Console | None = None
) -> None:
    """Prints ``messages`` (one or a list) on ``console`` (stdout) as ``output`` asks."""
    console = console or stdout()
    items = _as_list(messages)
    if output == "json":  # written as is: no markup, emoji codes or wrapping
        console.file.write(format_json(messages) + "\n")
    elif output == "yaml":
        console.file.write(format_yaml(items))
    elif output == "table":
        print_tables(tables(items), console)
    elif output == DOT:
        raise CliError(_DOT_ONLY, USAGE_EXIT)
    else:
        raise ValueError(f"unknown output {output!r}; choose one of {', '.join(OUTPUTS)}")


_DOT_ONLY = "--output dot is only for 'mlspec lineage'; choose table, json or yaml"


def output_option(*, dot: bool = False) -> Callable[[F], F]:
    """``-o/--output`` after a command, overriding the global one (``dot`` for lineage)."""
    choices = ALL_OUTPUTS if dot else OUTPUTS
    return click.option(
        "-o",
        "--output",
        "output",
        type=click.Choice(choices, case_sensitive=False),
        default=None,
        help=f"How to print results ({'|'.join(choices)}); overrides the global -o.",
    )


def chosen_output(global_output: str, command_output: str | None) -> str:
    """The output a command prints: its own ``-o`` if given, else the global one."""
    return (command_output or global_output).lower()


def check_output(output: str, command: str | None) -> None:
    """Refuses ``--output dot`` for a command other than ``lineage`` (a usage error)."""
    if output == DOT and command is not None and command not in DOT_COMMANDS:
        raise click.UsageError(_DOT_ONLY)


def stdout() -> Console:
    """A console on stdout; to a pipe or a file, wide enough that tables never fold."""
    console = Console()
    return console if console.is_terminal else Console(width=WIDE)


def print_tables(items: Sequence[Table], console: Console | None = None) -> None:
    """Prints tables; to a pipe or a file without the blanks that pad their last column."""
    console = console or stdout()
    for table in items:
        if console.is_terminal:
            console.print(table)
            continue
        with console.capture() as captured:
            console.print(table)
        console.file.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


def detail_table(message: Message) -> Table:
    """Every set field of one message, one row per leaf (``meta.name``, ``inputs[0].role``).

    Lists of plain values stay on one row, as JSON.
    """
    table = Table(
        title=message.DESCRIPTOR.full_name,
        title_justify="left",
        box=None,
        header_style="bold",
        pad_edge=False,
    )
    table.add_column("FIELD", no_wrap=True)
    table.add_column("VALUE", overflow="fold")
    whole = json_format.MessageToDict(message, preserving_proto_field_name=True)
    for path, value in _leaves(whole, ""):
        table.add_row(path, value)
    return table


def _leaves(value: object, path: str) -> list[tuple[str, str]]:
    if isinstance(value, dict) and value:
        found: list[tuple[str, str]] = []
        for key, item in value.items():
            found += _leaves(item, f"{path}.{key}" if path else str(key))
        return found
    if isinstance(value, list) and any(isinstance(item, dict | list) for item in value):
        return [pair for i, item in enumerate(value) for pair in _leaves(item, f"{path}[{i}]")]
    if isinstance(value, str):
        return [(path, value)]
    return [(path, json.dumps(value, separators=(", ", ": ")))]


def format_json(messages: Message | Sequence[Message]) -> str:
    """Proto3 JSON: an object for one message, an array for a list."""
    if isinstance(messages, Message):
        return json.dumps(json_format.MessageToDict(messages), indent=2)
    return json.dumps([json_format.MessageToDict(m) for m in messages], indent=2)


def format_yaml(messages: Sequence[Message]) -> str:
    """The messages as YAML documents, ``---`` between them."""
    return "---\n".join(yaml_format.dump(m) for m in messages)


def is_resource(message: Message) -> bool:
    """True if ``message`` carries the common object fields (a ``meta`` ObjectMeta)."""
    field = message.DESCRIPTOR.fields_by_name.get("meta")
    return (
        field is not None
        and field.message_type is not None
        and (field.message_type.full_name == META_TYPE)
    )


def tables(messages: Sequence[Message]) -> list[Table]:
    """One table of resources, or a field/value table per message of another kind."""
    if messages and all(is_resource(m) for m in messages):
        return [_resource_table(messages)]
    return [_field_table(m) for m in messages]


def _as_list(messages: Message | Sequence[Message]) -> list[Message]:
    return [messages] if isinstance(messages, Message) else list(messages)


def _resource_table(messages: Sequence[Message]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in RESOURCE_COLUMNS:
        table.add_column(column, overflow="fold")
    for message in messages:
        meta = getattr(message, "meta")  # noqa: B009 - checked by is_resource, untyped here
        status = meta.DESCRIPTOR.fields_by_name["status"].enum_type.values_by_number.get(
            meta.status
        )
        status_name = status.name.removeprefix(_STATUS_PREFIX) if status is not None else ""
        table.add_row(
            message.DESCRIPTOR.name,
            meta.id,
            meta.name,
            "" if status_name == "UNSPECIFIED" else status_name,
            meta.create_time.ToJsonString() if meta.HasField("create_time") else "",
        )
    return table


def _field_table(message: Message) -> Table:
    title = message.DESCRIPTOR.full_name
    table = Table(title=title, min_width=len(title), box=None, header_style="bold")
    table.add_column("FIELD", no_wrap=True)
    table.add_column("VALUE", overflow="fold")
    whole = json_format.MessageToDict(message, preserving_proto_field_name=True)
    for field, _ in message.ListFields():
        table.add_row(field.name, _cell(field, whole.get(field.name, "")))
    return table


def _cell(field: FieldDescriptor, value: object) -> str:
    if isinstance(value, str) and not field.is_repeated:
        return value
    return json.dumps(value, separators=(", ", ": "))
