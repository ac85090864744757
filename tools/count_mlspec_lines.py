"""Counts the lines of MLSpec code in a Python file, region by region.

Usage: ``.venv/bin/python tools/count_mlspec_lines.py [FILE] [--json]`` (default FILE:
``examples/pipeline/pipeline.py``). Prints the count of each region and the totals.

What counts as a line of MLSpec code: every physical line of a statement that uses
anything of ``mlspec`` (blank lines and comment lines inside it excluded). A statement
uses MLSpec when it mentions a name bound by an ``import`` from ``mlspec``, or a name
bound by such a statement (an assignment, ``for`` or ``with ... as`` target), or a
function parameter annotated with one (``client:
Client``), within the function (or module) where it is bound, followed until nothing
changes. For ``with``, ``for``, ``if`` and ``def`` only the header lines
are the statement; their bodies are statements of their own. So ``stage.set(...)``
counts with all its lines, ``search = train(table)`` does not, and a line that mixes
both (``client.create_dataset_version(name, write_csv(path, table))``) counts.
Docstrings never count.

Regions: a comment line ``# --- NAME`` starts the region ``NAME``, which runs until the
next such line; ``# --- end`` ends the last one. The ``import`` lines of mlspec form the
region ``imports``, and those that bind a name the nine stages (or ``setup``) read are
also listed as ``imports of the nine stages``; anything else outside the regions is
``outside``. The nine-stage pipeline is the issue's benchmark: ingest, analyse,
validate, split, train, evaluate, test, package, serve (stages 2-3 and 5-11).
"""

from __future__ import annotations

import argparse
import ast
import json
import pathlib
import re
import sys
from collections.abc import Iterator

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "examples" / "pipeline" / "pipeline.py"
MARKER = re.compile(r"^\s*# --- (.+?)\s*$")

NINE_STAGES = (
    "stage 2: data ingestion",
    "stage 3: data analysis",
    "stage 5: data validation",
    "stage 6: data splitting",
    "stage 7: model training",
    "stage 8: model evaluation",
    "stage 9: model test",
    "stage 10: model packaging",
    "stage 11: model serving",
)
"""The nine stages of the issue's benchmark pipeline (ingest to serve)."""


def _local(node: ast.AST) -> set[str]:
    """Names bound only inside an expression: comprehension targets, lambda parameters."""
    names: set[str] = set()
    for inner in ast.walk(node):
        if isinstance(inner, ast.comprehension):
            names |= {n.id for n in ast.walk(inner.target) if isinstance(n, ast.Name)}
        elif isinstance(inner, ast.Lambda):
            args = inner.args
            names |= {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
    return names


def _loads(node: ast.AST | None) -> set[str]:
    """The names a node reads from its scope (``a.b.c`` reads ``a``)."""
    if node is None:
        return set()
    read = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and not _is_store(n)}
    return read - _local(node)


def _is_store(name: ast.Name) -> bool:
    return isinstance(name.ctx, (ast.Store, ast.Del))


def _stores(node: ast.AST) -> set[str]:
    """The names a node binds in its scope (assignment, loop and ``as`` targets)."""
    bound = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and _is_store(n)}
    return bound - _local(node)


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def _header_parts(stmt: ast.stmt) -> list[ast.AST]:
    """The parts of a statement that belong to it rather than to its body."""
    if isinstance(stmt, (ast.With, ast.AsyncWith)):
        parts: list[ast.AST] = []
        for item in stmt.items:
            parts.append(item.context_expr)
            if item.optional_vars is not None:
                parts.append(item.optional_vars)
        return parts
    if isinstance(stmt, (ast.For, ast.AsyncFor)):
        return [stmt.target, stmt.iter]
    if isinstance(stmt, (ast.If, ast.While)):
        return [stmt.test]
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
        args = stmt.args
        every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
        every += [a for a in (args.vararg, args.kwarg) if a is not None]
        parts = [a.annotation for a in every if a.annotation is not None]
        parts += [d for d in [*args.defaults, *args.kw_defaults] if d is not None]
        if stmt.returns is not None:
            parts.append(stmt.returns)
        return parts
    if isinstance(stmt, (ast.ClassDef, ast.Try)):
        return list(stmt.bases) if isinstance(stmt, ast.ClassDef) else []
    return [stmt]


def _header_end(stmt: ast.stmt) -> int:
    """The last line of a statement's own part (its header, for a compound statement)."""
    body = getattr(stmt, "body", None)
    if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
        return body[0].lineno - 1
    return stmt.end_lineno or stmt.lineno


def _scope(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements of one scope, nested blocks included, nested scopes' bodies not."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for field in ("body", "orelse", "finalbody"):
            inner = getattr(stmt, field, None)
            if isinstance(inner, list):
                yield from _scope([s for s in inner if isinstance(s, ast.stmt)])
        for handler in getattr(stmt, "handlers", []):
            yield from _scope(handler.body)


def _is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def _mlspec_imports(tree: ast.Module) -> tuple[set[str], list[ast.stmt]]:
    names: set[str] = set()
    imports: list[ast.stmt] = []
    for stmt in ast.walk(tree):
        if isinstance(stmt, ast.ImportFrom) and (stmt.module or "").split(".")[0] == "mlspec":
            names |= {a.asname or a.name for a in stmt.names}
            imports.append(stmt)
        elif isinstance(stmt, ast.Import) and any(
            a.name.split(".")[0] == "mlspec" for a in stmt.names
        ):
            names |= {(a.asname or a.name).split(".")[0] for a in stmt.names}
            imports.append(stmt)
    return names, imports


def _uses(stmt: ast.stmt, tainted: set[str]) -> bool:
    return any(_loads(part) & tainted for part in _header_parts(stmt))


def _count_scope(body: list[ast.stmt], inherited: set[str], counted: set[int]) -> None:
    """Adds the MLSpec lines of one scope (and, recursively, of the scopes in it)."""
    statements = [s for s in _scope(body) if not isinstance(s, (ast.Import, ast.ImportFrom))]
    tainted = set(inherited)
    changed = True
    while changed:  # a name bound by a statement that uses MLSpec is MLSpec too
        changed = False
        for stmt in statements:
            if isinstance(stmt, _SCOPES) or not _uses(stmt, tainted):
                continue
            bound: set[str] = set()
            for part in _header_parts(stmt):
                bound |= _stores(part)
            if bound - tainted:
                tainted |= bound
                changed = True
    for stmt in statements:
        if _is_docstring(stmt):
            continue
        if _uses(stmt, tainted):
            counted.update(range(stmt.lineno, _header_end(stmt) + 1))
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = stmt.args
            params = {
                a.arg
                for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]
                if a.annotation is not None and _loads(a.annotation) & tainted
            }
            _count_scope(stmt.body, tainted | params, counted)
        elif isinstance(stmt, ast.ClassDef):
            _count_scope(stmt.body, tainted, counted)


def count(path: pathlib.Path) -> dict[str, int]:
    """The MLSpec line count of each region of a file (see the module documentation)."""
    return {name: len(numbers) for name, numbers in counted_lines(path).items()}


def counted_lines(path: pathlib.Path) -> dict[str, list[int]]:
    """The numbers of the MLSpec lines of each region of a file."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    tree = ast.parse(source)
    seed, imports = _mlspec_imports(tree)
    code_lines = {
        i + 1 for i, text in enumerate(lines) if text.strip() and not text.strip().startswith("#")
    }
    counted: set[int] = set()
    _count_scope(tree.body, seed, counted)
    import_lines: set[int] = set()
    for stmt in imports:
        import_lines |= set(range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1))
    regions: dict[str, list[int]] = {"imports": sorted(import_lines & code_lines)}
    regions["imports of the nine stages"] = []
    current = "outside"
    owner: dict[int, str] = {}
    for number, text in enumerate(lines, start=1):
        marker = MARKER.match(text)
        if marker:
            current = "outside" if marker.group(1) == "end" else marker.group(1)
            regions.setdefault(current, [])
            continue
        owner[number] = current
    regions.setdefault("outside", [])
    for number in sorted((counted & code_lines) - import_lines):
        regions[owner.get(number, "outside")].append(number)
    # The imports the nine stages need: those binding a name that their lines read.
    nine = {n for name in (*NINE_STAGES, "setup") for n in regions.get(name, [])}
    read: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and node.lineno in nine:
            for part in _header_parts(node):
                read |= _loads(part)
    for imported in imports:
        assert isinstance(imported, (ast.Import, ast.ImportFrom))
        bound = {(a.asname or a.name).split(".")[0] for a in imported.names}
        if bound & read:
            span = range(imported.lineno, (imported.end_lineno or imported.lineno) + 1)
            regions["imports of the nine stages"] += [n for n in span if n in code_lines]
    return regions


def summary(regions: dict[str, int]) -> dict[str, int]:
    """The totals: the nine-stage pipeline (its imports, setup and stages 2-3, 5-11), all.

    ``all`` counts every import line once, and every other line of every region.
    """
    nine = regions.get("imports of the nine stages", 0) + regions.get("setup", 0)
    nine += sum(regions.get(stage, 0) for stage in NINE_STAGES)
    total = sum(n for name, n in regions.items() if name != "imports of the nine stages")
    return {"nine_stages": nine, "all": total}


def main(argv: list[str] | None = None) -> int:
    """Prints the count of each region and the totals."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", nargs="?", type=pathlib.Path, default=DEFAULT)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--show", action="store_true", help="print every counted line")
    args = parser.parse_args(argv)
    if args.show:
        text = args.file.read_text(encoding="utf-8").splitlines()
        for name, numbers in counted_lines(args.file).items():
            for number in numbers:
                print(f"{name[:24]:24s} {number:4d}: {text[number - 1]}")
    regions = count(args.file)
    totals = summary(regions)
    if args.json:
        print(json.dumps({"regions": regions, **totals}, indent=2))
        return 0
    for name, number in regions.items():
        print(f"{number:4d}  {name}")
    print(f"{totals['nine_stages']:4d}  nine-stage pipeline (its imports, setup, stages 2-3, 5-11)")
    print(f"{totals['all']:4d}  all MLSpec lines of {args.file.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
