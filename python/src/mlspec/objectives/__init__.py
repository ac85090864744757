"""Codified objectives as code: the two expression dialects, checked and evaluated.

Shared by the server, the client and the ``mlspec`` command (it imports nothing above
the contract): ``check_objectives`` checks a ``CodifiedObjectives`` message at once,
``compile_expression`` one expression of either dialect (``mlspec-objective/v1``, parsed
with lark and translated into CEL; ``cel``, parsed and run by cel-python),
``evaluate`` runs a compiled expression on ``Values`` and ``evaluate_set`` a whole set,
giving the contract's ``ObjectivesEvaluation``. The grammar and the variables are
documented on ``ObjectiveExpression`` in ``mlspec/lifecycle/v1/objectives.proto``.
Needs the ``objectives`` extra (``pip install 'mlspec-contract[objectives]'``).
"""

from __future__ import annotations

from mlspec.objectives.cel import Reference, is_slice_name
from mlspec.objectives.codified import (
    BUILTIN_METRICS,
    DEFAULT_CHECK_STAGES,
    CompiledObjective,
    ObjectiveSet,
    check_objectives,
    derived_expression,
)
from mlspec.objectives.dialect import DIALECT, Declarations
from mlspec.objectives.expressions import (
    CEL,
    DIALECTS,
    Compiled,
    Observation,
    Result,
    UnknownDialect,
    Values,
    compile_expression,
    evaluate,
)
from mlspec.objectives.results import evaluate_set, observation_text
from mlspec.objectives.syntax import ExpressionError, Position, slice_name

__all__ = [
    "BUILTIN_METRICS",
    "CEL",
    "DEFAULT_CHECK_STAGES",
    "DIALECT",
    "DIALECTS",
    "Compiled",
    "CompiledObjective",
    "Declarations",
    "ExpressionError",
    "ObjectiveSet",
    "Observation",
    "Position",
    "Reference",
    "Result",
    "UnknownDialect",
    "Values",
    "check_objectives",
    "compile_expression",
    "derived_expression",
    "evaluate",
    "evaluate_set",
    "is_slice_name",
    "observation_text",
    "slice_name",
]
