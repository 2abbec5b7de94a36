"""What the driver needs per case, worked out once per engine from the plan.

Everything here is known at compile time: each name's key in the stage fact, each
shard's complement properties as ready text, which alternatives could fire once a
name is known, and what a durable rule name stands for. The driver then only looks
things up (driver.py).

A shard is asserted only when one of its alternatives could match: every name the
alternative tests is known, and none of its ``not`` atoms is false. Each alternative
is filed under one "anchor" (the name it tests that the fewest alternatives test), so
a case touches only the alternatives anchored on what it records. Durable_rules still
decides what fires; a shard left out is one where a test on a missing key would fail.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TypeVar

from calfrules.engine.durable.definitions import DurablePlan
from calfrules.rules import condition
from calfrules.rules.condition import Answer, Atom
from calfrules.rules.program import CompiledRule, Program

A = TypeVar("A", bound=Atom)

# what one alternative needs: the names it tests positively, and its complement names
Need = tuple[frozenset[str], frozenset[str]]
# per alternative of one rule: (label in Firing.matched, the name whose value it shows, or None for 'not ...')
RuleLabels = tuple[tuple[tuple[str, str | None], ...], ...]


@dataclass(frozen=True)
class StageTable:
    """A stage as the driver runs it."""

    shards: tuple[int, ...]
    cyclic: bool
    names: frozenset[str]  # every name its shards test: a new one means a cyclic stage runs again


@dataclass(frozen=True)
class DriverTables:
    """What the driver looks up per case, built once per engine."""

    prefixes: dict[str, str]  # name -> '"x12":' (the property key in every stage fact)
    true_parts: dict[str, str]  # name -> '"x12":true'
    shard_names: tuple[frozenset[str], ...]  # names each shard's fact carries
    shard_complements: tuple[frozenset[str], ...]
    complement_parts: tuple[tuple[tuple[str, str], ...], ...]  # per shard: (complement, '"x3":true')
    complement_text: tuple[str, ...]  # per shard: its complement parts joined (when all of them hold)
    # name -> per shard, the needs of the alternatives filed under it there
    anchored: dict[str, tuple[tuple[int, tuple[Need, ...]], ...]]
    unanchored: tuple[tuple[frozenset[str], ...], ...]  # per shard: complement needs of all-'not' alternatives
    stages: tuple[StageTable, ...]
    # durable rule name -> (rule index, alternative, the names the rule derives)
    fire_info: dict[str, tuple[int, int, tuple[str, ...]]]
    answers: dict[str, tuple[tuple[str, Answer], ...]]  # finding -> its 'x is no' / 'x is recorded' names
    negations: dict[str, tuple[tuple[str, Atom], ...]]  # name -> complements whose atoms test it


def build_tables(program: Program, plan: DurablePlan) -> DriverTables:
    prefixes = {name: json.dumps(key) + ":" for name, key in plan.fact_keys.items()}
    shard_names = tuple(frozenset(shard.names) for shard in plan.shards)
    complement_parts = tuple(
        tuple((name, prefixes[name] + "true") for name in sorted(names) if name in plan.complements)
        for names in shard_names
    )
    anchored, unanchored = _anchors(program, plan)
    return DriverTables(
        prefixes=prefixes,
        true_parts={name: prefix + "true" for name, prefix in prefixes.items()},
        shard_names=shard_names,
        shard_complements=tuple(frozenset(name for name, _ in parts) for parts in complement_parts),
        complement_parts=complement_parts,
        complement_text=tuple(",".join(part for _, part in parts) for parts in complement_parts),
        anchored=anchored,
        unanchored=unanchored,
        stages=tuple(
            StageTable(stage.shards, stage.cyclic, frozenset().union(*(shard_names[i] for i in stage.shards)))
            for stage in plan.stages
        ),
        fire_info={
            name: (rule, branch, program.rules[rule].outputs) for name, (rule, branch) in plan.durable_names.items()
        },
        answers=_by_name(plan.answers),
        negations=_by_name(plan.complements),
    )


def _anchors(
    program: Program, plan: DurablePlan
) -> tuple[dict[str, tuple[tuple[int, tuple[Need, ...]], ...]], tuple[tuple[frozenset[str], ...], ...]]:
    shard_of = {}
    for index, shard in enumerate(plan.shards):
        for durable_name in shard.rules:
            shard_of[plan.durable_names[durable_name]] = index
    anchored: dict[str, dict[int, list[Need]]] = {}
    unanchored: list[list[frozenset[str]]] = [[] for _ in plan.shards]
    for key, need in plan.needs.items():
        anchor = plan.anchors[key]
        if anchor is None:
            unanchored[shard_of[key]].append(need[1])
        else:
            anchored.setdefault(anchor, {}).setdefault(shard_of[key], []).append(need)
    return (
        {
            name: tuple((shard, tuple(needs)) for shard, needs in by_shard.items())
            for name, by_shard in anchored.items()
        },
        tuple(tuple(entries) for entries in unanchored),
    )


def rule_labels(rule: CompiledRule) -> RuleLabels:
    """Per alternative: (label in Firing.matched, the name whose value it shows, or None for 'not ...')."""
    return tuple(
        tuple(
            (atom.name, atom.name) if positive else ("not " + condition.to_text(atom), None)
            for atom, positive in branch
        )
        for branch in rule.branches
    )


def _by_name(entries: dict[str, A]) -> dict[str, tuple[tuple[str, A], ...]]:
    by_name: dict[str, list[tuple[str, A]]] = {}
    for name, atom in sorted(entries.items()):
        by_name.setdefault(atom.name, []).append((name, atom))
    return {name: tuple(found) for name, found in by_name.items()}
