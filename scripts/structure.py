"""The package's structure, measured: its import graph, and the path of one operator run through its modules.

    python scripts/structure.py graph     # modules by folder, imports between them, the rules below checked
    python scripts/structure.py execute   # the modules one FeishuWorkplaceBlockAccessOperator.execute() enters

``graph`` reads the package's source with :mod:`ast` (nothing is imported): an import inside a function (a
lazy one, kept off the DAG-parse path) is marked ``~>``, a module-level one ``->``. ``execute`` runs the
operator against the bundled Feishu double writing to a temporary folder, with a profiler that records each
package module the run enters, in order (``testing`` modules, the double's, are left out).
tests/test_structure.py holds the rules to the code.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "airflow_provider_feishu_workplace"
PACKAGE_DIR = Path(__file__).resolve().parent.parent / PACKAGE
#: Private modules at the package root, each used by several folders (the rest live in the folder of their job):
#: version differences; argument checks (hooks, operators, sensors); the connection's fields (hooks, provider
#: info); files opened safely in shared folders (the hooks' pace files, the outputs).
PACKAGE_WIDE_PRIVATE = {"_compat", "_arguments", "_connection_fields", "_safe_files"}


@dataclass(frozen=True)
class Import:
    """One import of a package module by another."""

    importer: str
    imported: str
    lazy: bool  # inside a function or an ``if TYPE_CHECKING`` block: not run when the importer is imported


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules() -> dict[str, Path]:
    """Every module of the package by its dotted name."""
    return {module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> list[Import]:
    """The package modules that ``name`` imports, from its source."""
    found: list[Import] = []

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            child_lazy = lazy or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                child_lazy = True
            if isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                targets = [f"{child.module}.{alias.name}" for alias in child.names] + [child.module]
                target = next((t for t in targets if t in known), None)
                if target and target != name:
                    found.append(Import(name, target, child_lazy))
            elif isinstance(child, ast.Import):
                found.extend(
                    Import(name, a.name, child_lazy) for a in child.names if a.name in known and a.name != name
                )
            visit(child, child_lazy)

    visit(ast.parse(path.read_text(encoding="utf-8")), lazy=False)
    return sorted(set(found), key=lambda i: (i.imported, i.lazy))


def import_graph() -> list[Import]:
    """Every import between package modules."""
    modules = package_modules()
    return [edge for name, path in modules.items() for edge in imports_of(name, path, set(modules))]


def folder_of(module: str) -> str:
    """The folder (``hooks``, ``operators``, ...) or root module a module belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "(package)"


def cycles(edges: list[Import], *, lazy_too: bool = False) -> list[list[str]]:
    """The cycles among module-level imports (a module imported while it is itself being imported); with
    ``lazy_too``, among all imports (two modules that each reach for the other: one concern in two places)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for edge in edges:
        if lazy_too or not edge.lazy:
            graph[edge.importer].add(edge.imported)
    found, state = [], {}

    def walk(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                found.append([*stack[stack.index(target) :], target])
            elif target not in state:
                walk(target, [*stack, target])
        state[node] = "done"

    for start in sorted(graph):
        if start not in state:
            walk(start, [start])
    return found


def print_graph() -> None:
    modules, edges = package_modules(), import_graph()
    by_folder: dict[str, list[str]] = defaultdict(list)
    for name in modules:
        by_folder[folder_of(name)].append(name.rpartition(".")[2] if name.count(".") > 1 else "__init__")
    lazy = sum(edge.lazy for edge in edges)
    print(
        f"{len(modules)} modules, {len(edges)} imports between them ({lazy} lazy), {len(cycles(edges))} cycles"
        f" ({len(cycles(edges, lazy_too=True))} counting lazy imports)"
    )
    print("Folders: " + "; ".join(f"{f}/ ({', '.join(sorted(n))})" for f, n in sorted(by_folder.items()) if len(n) > 1))
    print("Root modules: " + ", ".join(sorted(f for f, n in by_folder.items() if len(n) == 1)))
    print("Imports between folders (module-level ->, lazy ~>):")
    pairs: dict[tuple[str, str], bool] = {}
    for edge in edges:
        pair = (folder_of(edge.importer), folder_of(edge.imported))
        if pair[0] != pair[1]:
            pairs[pair] = pairs.get(pair, True) and edge.lazy
    for (source, target), only_lazy in sorted(pairs.items()):
        print(f"  {source} {'~>' if only_lazy else '->'} {target}")


def print_execute_path() -> None:
    import datetime as dt
    import tempfile

    from airflow_provider_feishu_workplace.operators.feishu_workplace import FeishuWorkplaceBlockAccessOperator
    from airflow_provider_feishu_workplace.testing import FeishuDouble

    entered: list[str] = []

    def profile(frame, event, _arg) -> None:
        module = frame.f_globals.get("__name__", "")
        ours = module.startswith(PACKAGE) and ".testing" not in module
        if event == "call" and ours and (not entered or entered[-1] != module):
            entered.append(module)

    day = (dt.date.today() - dt.timedelta(days=3)).isoformat()
    with tempfile.TemporaryDirectory() as folder, FeishuDouble() as double, double.connection_env("feishu_default"):
        operator = FeishuWorkplaceBlockAccessOperator(
            task_id="pull", date=day, output_path=f"file://{folder}/block-{{date}}.jsonl"
        )
        sys.setprofile(profile)
        try:
            operator.execute({"dag": None, "dag_run": None, "outlet_events": None, "ds": day})
        finally:
            sys.setprofile(None)
    short = [name.removeprefix(f"{PACKAGE}.") for name in entered]
    first_entries = list(dict.fromkeys(short))
    print(f"execute(context) of one block day: {len(short)} moves between {len(first_entries)} modules,")
    print("entered first in this order:\n  " + " > ".join(first_entries))


if __name__ == "__main__":
    {"graph": print_graph, "execute": print_execute_path}[sys.argv[1] if len(sys.argv) > 1 else "graph"]()
