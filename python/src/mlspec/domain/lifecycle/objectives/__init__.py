"""Codified objectives applied by the service.

Evaluated on stage 8 and 9 reports (``evaluation``), the hold-back test kept apart
(``holdback``), leakage between splits (``leakage``) and the deployment gate on stages 10
and 11 (``gate``). ``stage_rules`` holds the StageReport hooks; ``service`` answers
EvaluateObjectives. The expression language itself is ``mlspec.objectives``.
"""
