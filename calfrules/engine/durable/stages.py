"""Order rules into stages: a rule runs after every rule whose output it tests.

The driver asserts each stage's facts once, when everything its rules can test is
known, so no rule fires twice. Rules that test each other's outputs in a cycle share
a stage that is repeated until it derives nothing new (a rule that tests its own
output alone does not need that).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    """Rules that run together, in order."""

    rules: tuple[int, ...]  # rule indices, ascending
    cyclic: bool  # repeat until nothing new is derived


def order_stages(
    tested: Sequence[Iterable[str]],
    outputs: Sequence[Iterable[str]],
    required: Sequence[Iterable[str]] | None = None,
) -> list[Stage]:
    """``tested[i]``/``outputs[i]``: the names rule i tests and derives; ``required[i]``: those it
    cannot fire without (true in every alternative). Returns stages in run order.

    Two rules that both require X and derive X (each adds reasons to a conclusion) never
    wait for each other: neither can be the first to derive X.
    """
    count = len(tested)
    producers: dict[str, list[int]] = {}
    for index, names in enumerate(outputs):
        for name in names:
            producers.setdefault(name, []).append(index)
    needed_names = [set(names) for names in (required or [()] * count)]
    needs = [
        sorted(
            {
                producer
                for name in set(names)
                for producer in producers.get(name, ())
                if not (name in needed_names[rule] and name in needed_names[producer])
            }
        )
        for rule, names in enumerate(tested)
    ]
    component, components = _strongly_connected(needs)
    depth = [0] * len(components)
    for comp_index, members in enumerate(components):  # Tarjan yields dependencies first
        for rule in members:
            for needed in needs[rule]:
                other = component[needed]
                if other != comp_index:
                    depth[comp_index] = max(depth[comp_index], depth[other] + 1)
    by_depth: dict[int, list[int]] = {}
    cyclic: dict[int, bool] = {}
    for comp_index, members in enumerate(components):
        level = depth[comp_index]
        by_depth.setdefault(level, []).extend(members)
        # a rule that tests its own output cannot be the first to derive it (every other
        # producer runs in an earlier stage), so only cycles of two or more rules repeat
        cyclic[level] = cyclic.get(level, False) or len(members) > 1
    assert sum(len(v) for v in by_depth.values()) == count
    return [Stage(tuple(sorted(by_depth[level])), cyclic[level]) for level in sorted(by_depth)]


def _strongly_connected(edges: list[list[int]]) -> tuple[list[int], list[list[int]]]:
    """Tarjan's algorithm without recursion (chains of thousands of rules happen).

    ``edges[v]`` lists what v depends on; components come out dependencies first.
    """
    count = len(edges)
    index_of = [-1] * count
    low = [0] * count
    on_stack = [False] * count
    stack: list[int] = []
    component = [-1] * count
    components: list[list[int]] = []
    counter = 0
    for root in range(count):
        if index_of[root] != -1:
            continue
        work = [(root, 0)]
        while work:
            node, edge = work.pop()
            if edge == 0:
                index_of[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack[node] = True
            recurse = False
            for position in range(edge, len(edges[node])):
                target = edges[node][position]
                if index_of[target] == -1:
                    work.append((node, position + 1))
                    work.append((target, 0))
                    recurse = True
                    break
                if on_stack[target]:
                    low[node] = min(low[node], index_of[target])
            if recurse:
                continue
            if low[node] == index_of[node]:
                members = []
                while True:
                    member = stack.pop()
                    on_stack[member] = False
                    component[member] = len(components)
                    members.append(member)
                    if member == node:
                        break
                components.append(sorted(members))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return component, components
