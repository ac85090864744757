"""The server can keep what the declarations promise: every declared key is indexed.

Every sort key and filter field a standard List method declares must be a column of the
store, a member of the kind's filter index, or a family the kind indexes; and every
kind whose `meta` comment says the server names it is a kind whose name is optional.
"""

from __future__ import annotations

import pytest
from google.protobuf import descriptor

from mlspec.domain.common import listing
from mlspec.domain.common.kinds import BY_KIND, indexed_members, spec_for_message
from mlspec.server.app import SERVICES
from mlspec.server.routes import LIST
from mlspec.server.services import area_routes

COLUMNS = {"name", "status", "create_time", "update_time", "labels.*"}


def _standard_lists() -> list[descriptor.MethodDescriptor]:
    routes = area_routes()
    return [m for s in SERVICES for m in s.methods if routes.get(f"{s.full_name}/{m.name}") is LIST]


LISTS = _standard_lists()


@pytest.mark.parametrize("method", LISTS, ids=[m.full_name for m in LISTS])
def test_every_declared_key_and_field_is_indexed(method: descriptor.MethodDescriptor) -> None:
    declared = listing.declaration(method.input_type)
    assert declared is not None
    listed = next(f for f in method.output_type.fields if f.is_repeated)
    assert listed.message_type is not None
    spec = spec_for_message(listed.message_type)
    assert spec is not None
    members = indexed_members(spec.full_name)
    missing = [
        name
        for name in sorted(declared.sort_keys | declared.filter_fields)
        if name not in COLUMNS
        and spec.sort_members.get(name, name) not in members
        and not (name.endswith(".*") and name in members)
    ]
    assert missing == []


def test_kinds_named_by_the_server_say_so_in_their_meta_comment() -> None:
    """A kind whose name is optional documents it; one that requires it marks meta REQUIRED."""
    from google.api import field_behavior_pb2

    for spec in BY_KIND.values():
        meta = spec.message.DESCRIPTOR.fields_by_name["meta"]
        behaviors = meta.GetOptions().Extensions[field_behavior_pb2.field_behavior]
        required = field_behavior_pb2.REQUIRED in behaviors
        assert required == spec.name_required, spec.label
