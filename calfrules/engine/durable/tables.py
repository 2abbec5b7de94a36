"""What the driver needs per case, worked out once per engine from the plan.

Everything here is known at compile time: each name's key in the stage fact, its bit in
the driver's masks, which alternatives could fire once a name is known, the checks
that set complements and answers, and what a durable rule name stands for. The driver
then only looks things up and combines int masks (driver.py).

A shard is asserted only when one of its alternatives could match: every name the
alternative tests is known, and none of its ``not`` atoms is false. Each alternative
is filed under one "anchor" (the name it tests that the fewest alternatives test), so
a case touches only the alternatives anchored on what it records. Durable_rules still
decides what fires; a shard left out is one where a test on a missing key would fail.

Names are sets of bits: complement names take the lowest bits in sorted order, so a
fact lists its complements in the same order whatever the case.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from calfrules.engine.durable.definitions import DurablePlan
from calfrules.rules import condition
from calfrules.rules.condition import Atom, Truthy
from calfrules.rules.evaluate import Check, compile_check
from calfrules.rules.firing import Fired
from calfrules.rules.program import CompiledRule, Program
from calfrules.rules.vocabulary import Value

# one alternative as the driver checks it: the mask of the names it tests positively and of its
# complement names, with its shard's number above every name bit (``tables.shard_shift``); it
# could match when every one of those names is available
Need = int
# per alternative of one rule: (label in Firing.matched, the name whose value it shows, or None for 'not ...')
RuleLabels = tuple[tuple[tuple[str, str | None], ...], ...]
# one alternative as Firing.matched shows it: (the dict when it is the same in every case, its labels)
Shown = tuple[dict[str, Value] | None, tuple[tuple[str, str | None], ...]]
# what the driver files for a known name: (its bit, '"x12":', '"x12":true,', per stage (its
# index) the alternatives anchored on the name there); every part of a fact ends in a comma
Anchored = tuple[tuple[int, tuple[Need, ...]], ...]
NameEntry = tuple[int, str, str, Anchored]
# a durable rule's firing: (rule index, alternative, mask of the names the rule derives that
# some rule tests, the firing as run_fired reports it when the rule fires by this alternative alone)
Hit = tuple[int, int, int, Fired]
# a check made before the run on a finding or score: (mask of the complements it falsifies
# or 0, answer name or None, check)
PreCheck = tuple[int, str | None, Check]
# per finding or score: (mask of the complements it falsifies when it is yes, the other checks)
PreChecks = tuple[int, tuple[PreCheck, ...]]


@dataclass(frozen=True)
class StageTable:
    """A stage as the driver runs it."""

    shards: tuple[int, ...]
    cyclic: bool
    names: int  # mask of every name its shards test: a new one means a cyclic stage runs again
    unanchored: tuple[Need, ...]  # the all-'not' alternatives: every case checks them


@dataclass(frozen=True)
class DriverTables:
    """What the driver looks up per case, built once per engine."""

    names: dict[str, NameEntry]  # every name a rule tests (not the complements)
    bits: dict[str, int]  # name -> its bit in the masks
    shard_shift: int  # a Need's shard is need >> shard_shift (every name bit is below it)
    by_bit: dict[int, tuple[str, Anchored]]  # a tested name's bit -> its '"x12":true,' and anchored alternatives
    complements: int  # mask of every complement name
    complement_parts: tuple[str, ...]  # bit position of a complement -> its '"x3":true,'
    stages: tuple[StageTable, ...]
    first_needs: tuple[tuple[Need, ...], ...]  # per stage, its unanchored alternatives (copied per case)
    # durable rule name -> what its firing means
    fire_info: dict[str, Hit]
    # finding or score -> the complements it may falsify and the 'x is no' / 'x is recorded' answers it may make
    pre_checks: dict[str, PreChecks]


def build_tables(program: Program, plan: DurablePlan) -> DriverTables:
    prefixes = {name: json.dumps(key) + ":" for name, key in plan.fact_keys.items()}
    true_parts = {name: prefix + "true," for name, prefix in prefixes.items()}
    ordered = sorted(plan.complements) + sorted(set(prefixes) - plan.complements.keys())
    bits = {name: 1 << index for index, name in enumerate(ordered)}
    anchored, unanchored = _anchors(plan, bits)
    falsifies: dict[Atom, int] = {}  # atom -> mask of the complements it makes false when true
    for name, atoms in plan.complements.items():
        for atom in atoms:
            falsifies[atom] = falsifies.get(atom, 0) | bits[name]
    when_yes: dict[str, int] = {}  # 'not x' is false exactly when x is yes: no check to call
    pre_checks: dict[str, list[PreCheck]] = {}
    for atom, mask in sorted(falsifies.items(), key=lambda item: item[0].key()):
        if isinstance(atom, Truthy):
            when_yes[atom.name] = when_yes.get(atom.name, 0) | mask
        else:
            pre_checks.setdefault(atom.name, []).append((mask, None, compile_check(atom)))
    for name, answer in sorted(plan.answers.items()):
        pre_checks.setdefault(answer.name, []).append((0, name, compile_check(answer)))
    names: dict[str, NameEntry] = {
        name: (bits[name], prefix, true_parts[name], anchored.get(name, ()))
        for name, prefix in prefixes.items()
        if name not in plan.complements
    }
    stages = tuple(
        StageTable(
            stage.shards,
            stage.cyclic,
            _mask(bits, *(plan.shards[i].names for i in stage.shards)),
            tuple(shard << len(bits) | complements for shard in stage.shards for complements in unanchored[shard]),
        )
        for stage in plan.stages
    )
    return DriverTables(
        names=names,
        bits=bits,
        shard_shift=len(bits),
        by_bit={bit: (true_part, anchored) for bit, _, true_part, anchored in names.values()},
        complements=(1 << len(plan.complements)) - 1,
        complement_parts=tuple(true_parts[name] for name in sorted(plan.complements)),
        stages=stages,
        first_needs=tuple(stage.unanchored for stage in stages),
        fire_info={
            name: (rule, branch, _mask(bits, set(program.rules[rule].outputs) & names.keys()), (rule, (branch,)))
            for name, (rule, branch) in plan.durable_names.items()
        },
        pre_checks={
            name: (when_yes.get(name, 0), tuple(pre_checks.get(name, ()))) for name in when_yes.keys() | pre_checks
        },
    )


def _mask(bits: dict[str, int], *groups: set[str] | frozenset[str]) -> int:
    mask = 0
    for names in groups:
        for name in names:
            mask |= bits[name]
    return mask


def _anchors(
    plan: DurablePlan, bits: dict[str, int]
) -> tuple[dict[str, tuple[tuple[int, tuple[Need, ...]], ...]], list[list[int]]]:
    """Alternatives by anchor and stage (in shard order, duplicates once), and the all-'not'
    alternatives' complement masks per shard."""
    shard_of = {
        plan.durable_names[durable_name]: index
        for index, shard in enumerate(plan.shards)
        for durable_name in shard.rules
    }
    stage_of = {index: number for number, stage in enumerate(plan.stages) for index in stage.shards}
    anchored: dict[str, dict[int, dict[Need, None]]] = {}
    unanchored: list[list[int]] = [[] for _ in plan.shards]
    for key, (positives, complements) in plan.needs.items():
        anchor, index = plan.anchors[key], shard_of[key]
        if anchor is None:
            unanchored[index].append(_mask(bits, complements))
        else:
            need = index << len(bits) | _mask(bits, positives, complements)
            anchored.setdefault(anchor, {}).setdefault(stage_of[index], {})[need] = None
    return (
        {
            name: tuple((stage, tuple(sorted(needs))) for stage, needs in sorted(by_stage.items()))
            for name, by_stage in anchored.items()
        },
        unanchored,
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


def shown_when_fired(rule: CompiledRule) -> tuple[Shown, ...]:
    """Per alternative: what ``Firing.matched`` shows when it fired, as a dict ready to copy
    when that cannot depend on the case, and its labels with the names whose values they show.

    Every label of an alternative made of yes/no names and 'not's shows True when it fired:
    a yes/no test matches only a yes (or a derived name, which the findings never hold)."""
    shown: list[Shown] = []
    for branch, labels in zip(rule.branches, rule_labels(rule), strict=True):
        fixed = all(not positive or isinstance(atom, Truthy) for atom, positive in branch)
        shown.append((dict.fromkeys([label for label, _ in labels], True) if fixed else None, labels))
    return tuple(shown)
