"""Imports among bot's modules flow one way: no module depends on itself through others,
and no layer imports one above it.

The graph is read from the source with :mod:`ast`, not by importing: an edge is an import
that runs when the module is imported (module level, also inside ``if``/``try`` and class
bodies), or one under ``if TYPE_CHECKING:``, which mypy follows all the same: a circle
through annotations still ties a low layer to a high one. Imports inside functions are
left out; they are how a module defers a heavy import to the moment it is needed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "bot"

Graph = dict[str, set[str]]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(body: list[ast.stmt], type_checking: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements run on import (functions' bodies are not)."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test) or type_checking:
                yield from _imports(node.body, type_checking)
            yield from _imports(node.orelse, type_checking)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                yield from _imports(block, type_checking)
            for handler in node.handlers:
                yield from _imports(handler.body, type_checking)
        elif isinstance(node, ast.With | ast.ClassDef):
            yield from _imports(node.body, type_checking)


def import_graph(source: Mapping[str, str], packages: set[str], type_checking: bool) -> Graph:
    """Module → the modules of ``source`` it imports. ``source`` maps module names to
    their text; ``packages`` says which of them are packages (for relative imports)."""
    graph: Graph = {name: set() for name in source}
    for name, text in source.items():
        package = name if name in packages else name.rpartition(".")[0]
        for node in _imports(ast.parse(text).body, type_checking):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                # ``from bot.discord.cogs import queue`` imports the module bot.discord.cogs.queue
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in source else base
                    for alias in node.names
                ]
            graph[name].update(t for t in targets if t in source and t != name)
    return graph


def cycles(graph: Graph) -> list[list[str]]:
    """One circle per strongly connected component of more than one module (Tarjan),
    written as the path that closes it: [a, b, c, a]."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.add(top)
                if top == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(_circle(graph, component) for component in components)


def _circle(graph: Graph, component: set[str]) -> list[str]:
    """A shortest path from the component's first module back to itself (breadth first)."""
    start = min(component)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & component):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if nxt not in came_from:
                    came_from[nxt] = node
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"{sorted(component)} is not a cycle")


def bot_source() -> tuple[dict[str, str], set[str]]:
    files = sorted((ROOT / PACKAGE).rglob("*.py"))
    source = {module_name(path, ROOT): path.read_text(encoding="utf-8") for path in files}
    packages = {module_name(path, ROOT) for path in files if path.name == "__init__.py"}
    return source, packages


# Bottom to top. A module imports only from its own layer and those below it. The client
# loads the cogs as extensions by name (strings), so nothing below imports them.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("the core and its rendering", ("bot",)),  # every module not named below
    ("the Discord components", ("bot.discord.ui",)),
    ("the running bot", ("bot.runtime", "bot.discord.client", "bot.discord.sender")),
    ("the commands", ("bot.discord.cogs",)),
    ("the command line", ("bot.config.checks", "bot.cli", "bot.__main__")),
)


def layer_of(module: str) -> int:
    """The index in LAYERS of the most specific prefix naming ``module``."""
    found = [
        (len(prefix), index)
        for index, (_, prefixes) in enumerate(LAYERS)
        for prefix in prefixes
        if module == prefix or module.startswith(prefix + ".")
    ]
    return max(found)[1]


def upward(graph: Graph) -> list[str]:
    return [
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
        for module in sorted(graph)
        for target in sorted(graph[module])
        if layer_of(target) > layer_of(module)
    ]


def described(found: list[list[str]]) -> str:
    return "\n".join(" → ".join(circle) for circle in found)


@pytest.mark.parametrize("type_checking", [False, True], ids=["run-time", "with-type-checking"])
def test_bot_has_no_import_cycle(type_checking: bool) -> None:
    source, packages = bot_source()
    assert len(source) > 20  # the walk found the package
    found = cycles(import_graph(source, packages, type_checking))
    assert found == [], "import cycles:\n" + described(found)


def test_imports_go_down_the_layers() -> None:
    source, packages = bot_source()
    assert upward(import_graph(source, packages, type_checking=True)) == []


# --------------------------------------------------------------------------- the checker


def test_the_layers_of_some_modules() -> None:
    assert [
        layer_of(m)
        for m in ("bot", "bot.render.embeds", "bot.store.sqlite", "bot.discord.ui", "bot.runtime")
    ] == [0, 0, 0, 1, 2]
    assert [layer_of(m) for m in ("bot.discord.client", "bot.discord.cogs.queue", "bot.cli")] == [
        2,
        3,
        4,
    ]
    graph = {"bot.discord.sender": {"bot.discord.cogs.approval", "bot.render.embeds"}}
    assert upward(graph) == [
        "bot.discord.sender (the running bot) imports bot.discord.cogs.approval (the commands)"
    ]


def test_the_checker_names_a_circle_through_type_checking_only() -> None:
    source = {
        "p": "",
        "p.a": "from p.b import x\n",
        "p.b": "from p import c\n",
        "p.c": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n"
            "    from p.a import y\n"
            "def later():\n"
            "    from p.a import z\n"
        ),
    }
    run_time = import_graph(source, {"p"}, type_checking=False)
    assert run_time == {"p": set(), "p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": set()}
    assert cycles(run_time) == []
    typed = import_graph(source, {"p"}, type_checking=True)
    assert cycles(typed) == [["p.a", "p.b", "p.c", "p.a"]]


def test_the_checker_resolves_relative_imports_and_finds_every_component() -> None:
    source = {
        "p": "from .q import m\n",
        "p.q": "",
        "p.q.m": "from .. import r\n",
        "p.r": "import p.q.m\ntry:\n    from p import s\nexcept ImportError:\n    pass\n",
        "p.s": "class C:\n    from p.t import u\n",
        "p.t": "from p.s import C\n",
    }
    graph = import_graph(source, {"p", "p.q"}, type_checking=False)
    assert graph == {
        "p": {"p.q.m"},
        "p.q": set(),
        "p.q.m": {"p.r"},
        "p.r": {"p.q.m", "p.s"},
        "p.s": {"p.t"},
        "p.t": {"p.s"},
    }
    assert cycles(graph) == [["p.q.m", "p.r", "p.q.m"], ["p.s", "p.t", "p.s"]]
