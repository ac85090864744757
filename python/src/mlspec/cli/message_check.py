"""Checks a composed YAML document against a message descriptor and says where it is wrong.

The document is the proto3 JSON form of the message written as YAML (see
``mlspec.yaml_format``). The walker follows the descriptor down the node tree and reports
every problem it finds, each at the node it concerns: unknown fields, a field given twice,
two members of one oneof, a mapping where a scalar belongs (or the reverse), a list for a
singular field, bad scalar values and bad enum names.

What a leaf value may be is decided by protobuf's own JSON parser, one field at a time, so
that this checker accepts exactly what ``yaml_format.load`` accepts; well-known types
(timestamps, durations, structs, wrappers, ...) are handed to it whole. When the walk finds
nothing, the whole document is parsed once more as a last guard.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

import yaml
from google.protobuf import descriptor, json_format, message_factory
from google.protobuf.descriptor import FieldDescriptor

from mlspec import yaml_format
from mlspec.yaml_format import Position

__all__ = ["Problem", "check_document"]

_NULL = "tag:yaml.org,2002:null"
_STR = "tag:yaml.org,2002:str"
_TAG_NAMES = {
    _NULL: "null",
    _STR: "a string",
    "tag:yaml.org,2002:int": "an integer",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:bool": "a boolean",
}
_SCALAR_NAMES = {
    FieldDescriptor.CPPTYPE_STRING: "a string",
    FieldDescriptor.CPPTYPE_BOOL: "a boolean",
    FieldDescriptor.CPPTYPE_INT32: "an integer",
    FieldDescriptor.CPPTYPE_INT64: "an integer",
    FieldDescriptor.CPPTYPE_UINT32: "an integer",
    FieldDescriptor.CPPTYPE_UINT64: "an integer",
    FieldDescriptor.CPPTYPE_FLOAT: "a number",
    FieldDescriptor.CPPTYPE_DOUBLE: "a number",
}
_MAX_ENUM_NAMES = 8
_BAD = object()  # what ``_Walker.value`` returns for a node that cannot be built


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a document, and where it is."""

    position: Position
    message: str


def check_document(node: yaml.Node, message: descriptor.Descriptor) -> list[Problem]:
    """Every problem of the document ``node`` read as a ``message``, in text order."""
    walker = _Walker()
    walker.message(node, message, "")
    if not walker.problems:
        walker.whole(node, message)
    return sorted(walker.problems)


def _describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return _TAG_NAMES.get(node.tag, f"a {node.tag} value")


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == _NULL


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _is_well_known(message: descriptor.Descriptor) -> bool:
    return message.file.package == "google.protobuf"


def _expected(field: FieldDescriptor) -> str:
    if field.enum_type is not None:
        return f"a name of {field.enum_type.full_name}"
    if field.type == FieldDescriptor.TYPE_BYTES:
        return "base64 text"
    if field.message_type is not None:
        return f"a mapping ({field.message_type.full_name})"
    return _SCALAR_NAMES.get(field.cpp_type, "a scalar")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _reason(error: Exception) -> str:
    """The part of a json_format error that says what is wrong (no field, no path)."""
    text = str(error)
    if text.startswith("Failed to parse ") and " field: " in text:
        text = text.split(" field: ", 1)[1]
    if " at " in text:
        text = text.rsplit(" at ", 1)[0]
    return text.rstrip(".")


class _Walker:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, node: yaml.Node, text: str) -> None:
        self.problems.append(Problem(yaml_format.position(node), text))

    def value(self, node: yaml.Node) -> Any:
        """The plain value of ``node``, or ``_BAD`` (and a problem) if YAML cannot build it."""
        try:
            return yaml_format.node_value(node)
        except yaml_format.ParseError as exc:
            self.add(node, str(exc))
            return _BAD

    # -- messages -------------------------------------------------------------------

    def message(self, node: yaml.Node, message: descriptor.Descriptor, path: str) -> None:
        if _is_well_known(message):
            self.whole(node, message, path)
            return
        if not isinstance(node, yaml.MappingNode):
            where = f"{path}: " if path else ""
            self.add(
                node, f"{where}expected a mapping ({message.full_name}), got {_describe(node)}"
            )
            return
        seen: dict[str, yaml.Node] = {}
        oneofs: dict[str, str] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR:
                self.add(key_node, f"field names are strings, got {_describe(key_node)}")
                continue
            key = key_node.value
            field = message.fields_by_name.get(key) or message.fields_by_camelcase_name.get(key)
            if field is None:
                self.unknown(key_node, key, message)
                continue
            if field.name in seen:
                first = yaml_format.position(seen[field.name]).line
                self.add(key_node, f"field {key!r} is given twice (first on line {first})")
                continue
            seen[field.name] = key_node
            oneof = field.containing_oneof
            if oneof is not None and not _is_null(value_node) and not _synthetic(oneof):
                other = oneofs.setdefault(oneof.name, key)
                if other != key:
                    self.add(
                        key_node,
                        f"{key!r} and {other!r} are both set, but they are members of "
                        f"oneof {oneof.name}: keep one",
                    )
            self.field(value_node, field, message, _join(path, field.name))

    def unknown(self, node: yaml.Node, key: str, message: descriptor.Descriptor) -> None:
        names = [f.name for f in message.fields] + [f.json_name for f in message.fields]
        close = difflib.get_close_matches(key, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        self.add(node, f"unknown field {key!r} in {message.full_name}{hint}")

    # -- fields ---------------------------------------------------------------------

    def field(
        self,
        node: yaml.Node,
        field: FieldDescriptor,
        parent: descriptor.Descriptor,
        path: str,
    ) -> None:
        value_type = field.message_type
        if _is_null(node) and not (
            value_type is not None and value_type.full_name == "google.protobuf.Value"
        ):
            return  # proto3 JSON: null means "not set"
        if _is_map(field):
            self.map(node, field, parent, path)
        elif field.is_repeated:
            self.repeated(node, field, parent, path)
        elif value_type is not None:
            self.message(node, value_type, path)
        else:
            self.scalar(node, field, parent, path, lambda value: {field.name: value})

    def repeated(
        self,
        node: yaml.Node,
        field: FieldDescriptor,
        parent: descriptor.Descriptor,
        path: str,
    ) -> None:
        if not isinstance(node, yaml.SequenceNode):
            self.add(node, f"{path}: expected a list, got {_describe(node)}")
            return
        value_type = field.message_type
        for index, item in enumerate(node.value):
            where = f"{path}[{index}]"
            if _is_null(item):
                self.add(item, f"{where}: null is not allowed in a list")
            elif value_type is not None and not _is_well_known(value_type):
                self.message(item, value_type, where)
            else:
                self.scalar(item, field, parent, where, lambda value: {field.name: [value]})

    def map(
        self,
        node: yaml.Node,
        field: FieldDescriptor,
        parent: descriptor.Descriptor,
        path: str,
    ) -> None:
        if not isinstance(node, yaml.MappingNode):
            self.add(node, f"{path}: expected a mapping (a map), got {_describe(node)}")
            return
        entry = field.message_type
        assert entry is not None  # a map field's type is its entry message
        key_field, value_field = entry.fields_by_name["key"], entry.fields_by_name["value"]
        placeholder_key = _placeholder_key(key_field)
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.add(key_node, f"{path}: map keys are scalars, got {_describe(key_node)}")
                continue
            if key_node.value in seen:
                self.add(key_node, f"{path}: key {key_node.value!r} is given twice")
                continue
            seen.add(key_node.value)
            key = self.value(key_node)
            if key is _BAD:
                continue
            if key_field.cpp_type == FieldDescriptor.CPPTYPE_STRING and not isinstance(key, str):
                self.add(key_node, f"{path}: map keys are strings here; quote {key_node.value!r}")
                continue
            if not self.parse(key_node, parent, {field.name: {key: _placeholder(value_field)}}):
                continue
            where = f"{path}[{key_node.value!r}]"
            value_type = value_field.message_type
            if value_type is not None and not _is_well_known(value_type):
                if not _is_null(value_node):
                    self.message(value_node, value_type, where)
            else:
                self.scalar(
                    value_node,
                    value_field,
                    parent,
                    where,
                    lambda value: {field.name: {placeholder_key: value}},
                )

    # -- leaves ---------------------------------------------------------------------

    def scalar(
        self,
        node: yaml.Node,
        field: FieldDescriptor,
        parent: descriptor.Descriptor,
        path: str,
        wrap: Any,
    ) -> None:
        """Checks a leaf (a scalar or a well-known type) by parsing it alone into ``parent``."""
        is_message = field.message_type is not None
        if not is_message and not isinstance(node, yaml.ScalarNode):
            self.add(node, f"{path}: expected {_expected(field)}, got {_describe(node)}")
            return
        if (
            not is_message
            and field.cpp_type == FieldDescriptor.CPPTYPE_STRING
            and node.tag != _STR
            and not _is_null(node)
        ):
            self.add(
                node,
                f"{path}: expected {_expected(field)}, got {_describe(node)} {node.value!r}; "
                f"quote it to make it a string",
            )
            return
        value = self.value(node)
        if value is _BAD:
            return
        enum = field.enum_type
        # Protobuf also takes an enum number written as text; anything else is a bad name.
        if (
            enum is not None
            and isinstance(value, str)
            and value not in enum.values_by_name
            and not _is_integer(value)
        ):
            self.add(node, f"{path}: {_bad_enum(value, enum)}")
            return
        self.parse(node, parent, wrap(value), path)

    def parse(
        self,
        node: yaml.Node,
        parent: descriptor.Descriptor,
        data: dict[str, Any],
        path: str = "",
    ) -> bool:
        """Parses ``data`` into a ``parent``; on failure reports why at ``node``."""
        try:
            json_format.ParseDict(data, message_factory.GetMessageClass(parent)())
        except (json_format.ParseError, TypeError, ValueError) as exc:
            where = f"{path}: " if path else ""
            self.add(node, f"{where}{_reason(exc)}")
            return False
        return True

    def whole(self, node: yaml.Node, message: descriptor.Descriptor, path: str = "") -> None:
        """Parses the subtree at ``node`` as a ``message`` in one go."""
        data = self.value(node)
        if data is _BAD:
            return
        where = f"{path}: " if path else ""
        try:
            json_format.ParseDict(data, message_factory.GetMessageClass(message)())
        except (json_format.ParseError, TypeError, ValueError, AttributeError) as exc:
            self.add(node, f"{where}{_reason(exc)}")


def _is_integer(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _synthetic(oneof: descriptor.OneofDescriptor) -> bool:
    """True for the hidden oneof of a proto3 ``optional`` field."""
    return len(oneof.fields) == 1 and oneof.name == f"_{oneof.fields[0].name}"


def _bad_enum(value: str, enum: descriptor.EnumDescriptor) -> str:
    names = [v.name for v in enum.values if v.number != 0] or [v.name for v in enum.values]
    prefix = f"{enum.values[0].name.removesuffix('UNSPECIFIED')}"  # e.g. OBJECT_STATUS_
    short = {name.removeprefix(prefix): name for name in names}
    close = difflib.get_close_matches(value.upper().removeprefix(prefix), list(short), n=1)
    if close:
        return f"{value!r} is not a value of {enum.full_name}; did you mean {short[close[0]]!r}?"
    shown = ", ".join(names[:_MAX_ENUM_NAMES])
    more = ", ..." if len(names) > _MAX_ENUM_NAMES else ""
    return f"{value!r} is not a value of {enum.full_name} (one of {shown}{more})"


def _placeholder_key(key_field: FieldDescriptor) -> str:
    if key_field.cpp_type == FieldDescriptor.CPPTYPE_BOOL:
        return "true"
    if key_field.cpp_type == FieldDescriptor.CPPTYPE_STRING:
        return "k"
    return "0"


def _placeholder(value_field: FieldDescriptor) -> Any:
    """A value that is always valid for ``value_field`` (to check a map key alone)."""
    if value_field.message_type is not None:
        return "" if value_field.message_type.full_name == "google.protobuf.Value" else {}
    if value_field.enum_type is not None:
        return value_field.enum_type.values[0].name
    if value_field.cpp_type == FieldDescriptor.CPPTYPE_STRING:
        return ""
    if value_field.cpp_type == FieldDescriptor.CPPTYPE_BOOL:
        return False
    return 0
