"""The folders are the architecture: layers import only downwards, no import cycles, small modules.

Imports are read from the source with ``ast`` (every ``import``, at module level, inside
functions and under ``TYPE_CHECKING``), so a cycle hidden in a function or a type hint
fails here too.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "calfrules"
MAX_LINES = 400

# Bottom up; a module may import its own layer and the layers below it, never above.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("calfrules._version", "calfrules.rules"),
    ("calfrules.files",),
    ("calfrules.knowledge", "calfrules.plugins", "calfrules.rulesets"),
    ("calfrules.engine.durable",),
    ("calfrules.engine",),
    ("calfrules.formats",),
    ("calfrules.audit",),
    ("calfrules.tooling",),
    ("calfrules.service",),
    ("calfrules.tui",),
    ("calfrules.cli",),
    ("calfrules", "calfrules.testing", "calfrules.__main__"),  # the public facades
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported(name: str) -> set[str]:
    """The calfrules modules ``name`` imports (a package import counts as its __init__)."""
    path = modules()[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from package import module`` depends on that module; ``from module import name`` on the module
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules() else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules():
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def layer_of(name: str) -> int:
    best = max(
        (prefix for layer in LAYERS for prefix in layer if name == prefix or name.startswith(prefix + ".")),
        key=len,
    )
    return next(index for index, layer in enumerate(LAYERS) if best in layer)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the list of modules around it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_there_are_no_import_cycles() -> None:
    graph = {name: imported(name) for name in modules()}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("name", sorted(modules()))
def test_a_module_imports_only_its_own_layer_and_below(name: str) -> None:
    upward = sorted(t for t in imported(name) if layer_of(t) > layer_of(name))
    assert not upward, f"{name} (layer {layer_of(name)}) imports from a layer above: {upward}"


def third_party_imports(name: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(modules()[name].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_only_the_durable_backend_touches_durable_rules() -> None:
    users = sorted(n for n in modules() if third_party_imports(n) & {"durable", "durable_rules_engine"})
    assert users and all(n.startswith("calfrules.engine.durable.") for n in users), users


@pytest.mark.parametrize("name", sorted(modules()))
def test_no_module_is_over_400_lines(name: str) -> None:
    lines = len(modules()[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines; split it by job"


def test_every_recommendation_kind_and_level_has_its_wording() -> None:
    from calfrules.formats.fhir import _PRIORITY
    from calfrules.formats.text import _STYLE, KIND_TITLES
    from calfrules.rules.levels import Level
    from calfrules.rules.model import RECOMMENDATION_KINDS

    assert list(KIND_TITLES) == list(RECOMMENDATION_KINDS)
    assert set(_PRIORITY) == set(_STYLE) == set(Level)


def readme_rows() -> list[str]:
    """The first column of the README's "How it works" table, in order."""
    text = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## How it works") :]
    section = section[: section.index("\n## ", 1)]
    return [line.split("|")[1].strip() for line in section.splitlines() if line.startswith("| `")]


def test_the_readme_maps_every_folder_in_the_layer_order() -> None:
    rows = readme_rows()
    folders = [
        "calfrules." + str(path.parent.relative_to(PACKAGE)).replace("/", ".")
        for path in PACKAGE.rglob("__init__.py")
        if path.parent != PACKAGE
    ]
    # `calfrules/engine/durable/` -> calfrules.engine.durable, `calfrules/files.py` -> calfrules.files
    named = [row.strip("`/").removesuffix(".py").replace("/", ".") for row in rows]
    for folder in folders:
        assert f"`{folder.replace('.', '/')}/`" in rows, f"README's How it works does not map {folder}"
    layered = [n for n in named if any(n in layer for layer in LAYERS)]
    assert [layer_of(n) for n in layered] == sorted(layer_of(n) for n in layered), "README rows out of layer order"
    assert len(layered) >= 10
