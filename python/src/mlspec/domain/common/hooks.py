"""The hooks a kind may register to add its own rules to the common resource rules.

Each area module that has rules for a kind declares them as a ``KindRules`` in its
``RULES`` table; ``mlspec.domain.kind_rules`` collects the tables and applies the hooks
around ``Resources.create`` and ``Resources.update``:

1. ``prepare(res, message, path)``: the checks that need nothing resolved yet (the
   request alone, or its parent, decides them), and the defaults the common rules need
   (a generated name); raises.
2. ``Resources.create`` runs the common rules: output-only fields cleared, names, labels
   and required fields checked (at every depth, less what ``waive_required(message)``
   waives: requirements that hold only in some states of the message, such as a
   stage payload's for a report of a stage that did not complete), references resolved,
   id and times set.
3. ``derive(res, message, path) -> edges``: fills what the server computes and runs the
   checks that need the resolved references; returns the lineage edges the kind implies
   (source, target, LineageEdgeKind), which are stored with the edges the references
   imply.
4. ``after_create(res, stored, path) -> stored``: follow-up writes that need the stored
   resource (a step run's tracking run).
5. ``refresh(res, stored)``: recomputes what other resources summarize of this one (a
   dataset's latest version, an experiment's run count), in the same transaction; it
   runs after a create and after every status change (archive, deprecate, reactivate).

``update(res, message, mask, path) -> stored`` replaces the common update for a kind with
its own rules around ``Resources.update``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from google.protobuf import field_mask_pb2
from google.protobuf.message import Message

from mlspec.domain.common.resources import Resources
from mlspec.store.api import Edge

Prepare = Callable[[Resources, Any, str], None]
Derive = Callable[[Resources, Any, str], list[Edge] | None]
AfterCreate = Callable[[Resources, Any, str], Message]
Update = Callable[[Resources, Any, field_mask_pb2.FieldMask, str], Message]
Waive = Callable[[Any], Collection[str]]
Refresh = Callable[[Resources, Any], None]


@dataclass(frozen=True)
class KindRules:
    """The rules of one kind beyond the common ones (every hook is optional)."""

    prepare: Prepare | None = None
    derive: Derive | None = None
    after_create: AfterCreate | None = None
    update: Update | None = None
    # Paths (relative to the resource) whose REQUIRED fields this message need not set.
    waive_required: Waive | None = None
    refresh: Refresh | None = None
    # Whether the kind's top-level references become DERIVED_FROM edges into it (stage
    # reports say their own edges: inputs consumed, outputs produced).
    reference_edges: bool = True
