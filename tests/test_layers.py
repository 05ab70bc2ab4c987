"""The import graph of personae: no circles, and no import from a lower layer to a higher one.

Layers, lowest first (a module may import its own layer and any layer below):
  0 errors, files, threads, stats,       the foundations every room may use, and the answers of a model
    results                              (Recommendations, Explanation, PersonaMix)
  1 data                                 interactions, readers, splits
  2 train, evaluate, explain, space      the loop, metrics and evaluator, explanation rules and measures,
                                         geometry: they take a model as an argument and never import one
  3 models                               the Recommender interface and every model: ``fit`` runs the one
                                         loop, EASE tunes with the evaluator, ``explain`` uses the rules
  4 experiment, runs                     runs of models and the reports they write
  5 simulate, serve, report, llm,        applications built on all of the above
    recommend_all, recommend_ray
  6 cli, __main__                        the `personae` command: the only place typer is imported

Every import counts, at module level or inside a function (a deferred import is still a dependency), except
those under ``if TYPE_CHECKING:``, which never run. Run as a script to print the graph's cycles and upward
imports: ``python tests/test_layers.py``.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "personae"

LAYERS: dict[str, int] = {
    "errors": 0, "files": 0, "threads": 0, "memory": 0, "stats": 0, "results": 0,
    "data": 1,
    "train": 2, "evaluate": 2, "explain": 2, "space": 2,
    "models": 3,
    "experiment": 4, "runs": 4,
    "simulate": 5, "serve": 5, "report": 5, "llm": 5, "recommend_all": 5, "recommend_ray": 5,
    "cli": 6, "__main__": 6,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of ``tree`` except those under ``if TYPE_CHECKING:`` (imports for type hints only)."""
    found, todo = [], [tree]
    while todo:
        node = todo.pop()
        found.append(node)
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
    return found


def import_graph() -> dict[str, set[str]]:
    """personae module -> the personae modules it imports (``from personae.x import y`` names x.y when y is a
    module, else x)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in runtime_nodes(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name.startswith("personae"))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base]).strip(".")
                if not base.startswith("personae"):
                    continue
                for alias in node.names:
                    candidate = f"{base}.{alias.name}"
                    targets.add(candidate if candidate in modules else base)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "personae"


def layer(module: str) -> int | None:
    return LAYERS.get(room(module))


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    found = []
    for source, targets in sorted(graph.items()):
        for target in sorted(targets):
            low, high = layer(source), layer(target)
            if low is not None and high is not None and high > low:
                found.append(f"{source} (layer {low}) imports {target} (layer {high})")
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_room_of_personae_has_a_layer():
    rooms = {room(m) for m in import_graph()} - {"personae"}
    assert sorted(r for r in rooms if r not in LAYERS) == []


def test_the_import_graph_has_no_circles():
    assert cycles(import_graph()) == []


def test_no_module_imports_a_higher_layer():
    assert upward_imports(import_graph()) == []


def test_typer_is_imported_only_by_the_cli():
    users = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n == "typer" or n.startswith("typer.") for n in names):
                users.append(module_name(path))
    assert sorted(u for u in set(users) if room(u) != "cli") == []


def test_a_planted_circle_and_upward_import_are_found():
    """The checks themselves can fail: a hand-made graph with one circle and one upward arrow."""
    graph = {"personae.data.a": {"personae.models.b"}, "personae.models.b": {"personae.data.a"},
             "personae.models.c": {"personae.data.a"}}
    assert cycles(graph) == [["personae.data.a", "personae.models.b"]]
    assert upward_imports(graph) == ["personae.data.a (layer 1) imports personae.models.b (layer 3)"]


if __name__ == "__main__":
    graph = import_graph()
    for component in cycles(graph):
        print("cycle:", " <-> ".join(component))
    for line in upward_imports(graph):
        print("upward:", line)
