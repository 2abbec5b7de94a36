"""The compiled rules as durable_rules definitions: names, keys, patterns and shards.

The form avoids every hazard measured in durable_rules 2.0.28
(shared/notes/durable-rules-hazards.md) and one more found here:

- Every durable rule has exactly ONE pattern, over one "stage fact" that holds all
  that is known about the case (findings, scores, complements, derived names). Found
  here: when a fact that took part in a completed multi-fact rule is retracted,
  durable_rules' ``deleteMessageFromFrame`` scans past the end of the frame and can
  write into the heap; the process later dies in unrelated code. A frame with one
  message never triggers it. The driver re-asserts the stage fact when rules derive
  something new (see driver.py).
- Fact properties are short keys (``x0``, ``x1``, ...) from ``DurablePlan.fact_keys``: no
  finding id can collide with durable_rules' own ``sid``/``id``, and a shard's fact
  only carries the keys its rules test, far below the 252-property limit.
- ``not`` is never compiled to durable_rules' ``$not``/``$nex`` (order-dependent, and
  a catch-all ``$nex`` hangs). ``not`` may only apply to what is known before the
  rules run (findings and Python scores); an alternative's ``not`` atoms are one
  complement key, which the driver sets when none of them is true, so every test is
  positive.
- Rules are split into shards small enough to stay clear of the beta limit
  (error 108 past about 256 rules sharing a first condition) and of the 512-slot
  alpha table that spins forever in findAlpha.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from calfrules.engine.durable.stages import order_stages
from calfrules.rules.condition import Answer, Atom, Compare
from calfrules.rules.program import CompiledRule, Program

# durable_rules walks matching alpha nodes with a stack of 64 (error 303 past it). Each
# entry on it is a distinct subtree holding at least one rule, so 60 rules never overflow.
MAX_RULES_PER_SHARD = 60
# durable_rules refuses a message with more than 252 properties (error 302)
MAX_KEYS_PER_SHARD = 240
_OPS = {">=": "$gte", "<=": "$lte", ">": "$gt", "<": "$lt", "!=": "$neq"}


@dataclass
class Shard:
    """One durable_rules ruleset: some of the rules of a stage."""

    rules: list[str] = field(default_factory=list)  # its durable rule names, in order
    parts: list[str] = field(default_factory=list)  # each rule as JSON text: '"r3b0":{"all":[{"m":...}]}'
    names: set[str] = field(default_factory=set)  # what its rules test: the keys its stage fact carries
    # a rule here can fire only if one of these is known (or some alternative tests only 'not's)
    triggers: set[str] = field(default_factory=set)
    unconditional: bool = False

    @property
    def text(self) -> str:
        """The durable_rules ruleset definition, as the JSON text ``create_ruleset`` reads."""
        return "{" + ",".join(self.parts) + "}"

    @property
    def definition(self) -> dict[str, Any]:
        return dict(json.loads(self.text))


@dataclass(frozen=True)
class ShardStage:
    """The shards of one stage."""

    shards: tuple[int, ...]
    cyclic: bool


@dataclass
class DurablePlan:
    """A Program as durable_rules runs it (built once per engine by ``build_plan``)."""

    shards: list[Shard]
    stages: list[ShardStage]  # run in order: each stage's shards once (cyclic ones until settled)
    durable_names: dict[str, tuple[int, int]]  # durable rule name -> (CompiledRule.index, branch index)
    fact_keys: dict[str, str]  # name (finding, score, complement, derived) -> property key in the stage fact
    # the 'not's of each alternative (evaluated before the run): complement name -> the atoms,
    # none of which may be true for it to hold
    complements: dict[str, tuple[Atom, ...]]
    # positive ``x is no`` / ``x is recorded`` atoms (evaluated before the run): answer name -> its atom
    answers: dict[str, Answer]
    # (rule index, branch) -> the names it tests positively, and its complement names
    needs: dict[tuple[int, int], tuple[frozenset[str], frozenset[str]]] = field(default_factory=dict)
    # (rule index, branch) -> the one name it tests that the fewest alternatives test (None: only 'not's)
    anchors: dict[tuple[int, int], str | None] = field(default_factory=dict)


def build_plan(program: Program) -> DurablePlan:
    rules = list(program.rules)
    complements: dict[str, tuple[Atom, ...]] = {}
    answers: dict[str, Answer] = {}
    atom_keys: dict[Atom, str] = {}  # Atom.key() once per distinct atom (packs share many)
    # per rule, per alternative: its literals as (atom key, positive, stage-fact name, atom), sorted
    named: list[list[list[tuple[str, bool, str, Atom]]]] = []
    for rule in rules:
        alternatives = []
        for branch in rule.branches:
            literals: list[tuple[str, bool, str, Atom]] = []
            negated: dict[str, Atom] = {}
            for atom, positive in branch:
                key = atom_keys.get(atom)
                if key is None:
                    key = atom_keys[atom] = atom.key()
                if not positive:
                    negated[key] = atom
                    continue
                if isinstance(atom, Answer):
                    name = "?" + key
                    answers[name] = atom
                else:
                    name = atom.name
                literals.append((key, positive, name, atom))
            if negated:  # all the alternative's 'not's as one complement (see complement_group)
                name = complement_group(sorted(negated))
                complements[name] = tuple(negated[key] for key in sorted(negated))
                literals.append((name, False, name, next(iter(negated.values()))))
            literals.sort(key=lambda literal: (literal[0], literal[1]))
            alternatives.append(literals)
        named.append(alternatives)
    keys = {
        name: f"x{i}"
        for i, name in enumerate(
            sorted({literal[2] for alternatives in named for lits in alternatives for literal in lits})
        )
    }
    needs = {
        (rule.index, number): (
            frozenset(name for _, positive, name, _ in literals if positive),
            frozenset(name for _, positive, name, _ in literals if not positive),
        )
        for rule, alternatives in zip(rules, named, strict=True)
        for number, literals in enumerate(alternatives)
    }
    shards, stages, durable_names = shard(rules, keys, needs, named)
    return DurablePlan(shards, stages, durable_names, keys, complements, answers, needs, anchor_names(needs))


def anchor_names(
    needs: dict[tuple[int, int], tuple[frozenset[str], frozenset[str]]],
) -> dict[tuple[int, int], str | None]:
    """Each alternative's rarest positive name: it cannot match unless that name is known."""
    frequency = Counter(name for positives, _ in needs.values() for name in positives)
    return {
        key: min(positives, key=lambda name: (frequency[name], name)) if positives else None
        for key, (positives, _) in needs.items()
    }


def complement_group(keys: list[str]) -> str:
    """The stage-fact name that holds when none of the atoms with these keys (sorted) is true.

    An alternative's 'not's are one property, not one each: the fact that carries the
    all-'not' alternatives was 33 properties for the built-in rules, and every property is
    paid for in each assert, retract and action durable_rules makes."""
    return "!" + keys[0] if len(keys) == 1 else "!" + json.dumps(keys)


def _pattern_text(literals: list[tuple[str, bool, str, Atom]], keys: dict[str, str]) -> str:
    """All tests of one alternative on the one stage fact, as JSON text (ranges such as
    ``x >= 30 and x <= 33`` are two tests on the same key); literals sorted by atom key."""
    tests: list[str] = []
    for _, positive, name, atom in literals:
        key = keys[name]
        if not positive or not isinstance(atom, Compare):  # a 'not', an answer or a yes/no name
            tests.append(f'{{"{key}":true}}')
        elif atom.op == "==":
            tests.append(f'{{"{key}":{to_json(atom.value)}}}')
        else:
            tests.append(f'{{"{_OPS[atom.op]}":{{"{key}":{to_json(atom.value)}}}}}')
    return tests[0] if len(tests) == 1 else '{"$and":[' + ",".join(tests) + "]}"


def to_json(value: Any) -> str:
    """JSON that durable_rules' parser reads: it rejects exponents (``1e-05``: error 204)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = repr(value)
        return f"{value:.6f}" if ("e" in text or "E" in text) else text
    if isinstance(value, (int, str)) or value is None:
        return json.dumps(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    raise TypeError(f"cannot send {type(value).__name__} to durable_rules")


def _required_names(rule: CompiledRule) -> set[str]:
    """Names the rule tests positively in every alternative: it cannot fire without them."""
    branches = rule.branches
    if not branches:
        return set()
    required = {atom.name for atom, positive in branches[0] if positive}
    for branch in branches[1:]:
        if not required:
            break
        required.intersection_update([atom.name for atom, positive in branch if positive])
    return required


def shard(
    rules: list[CompiledRule],
    keys: dict[str, str],
    needs: dict[tuple[int, int], tuple[frozenset[str], frozenset[str]]],
    named: list[list[list[tuple[str, bool, str, Atom]]]],
) -> tuple[list[Shard], list[ShardStage], dict[str, tuple[int, int]]]:
    tested = [[atom.name for branch in rule.branches for atom, _ in branch] for rule in rules]
    shards: list[Shard] = []
    stages: list[ShardStage] = []
    durable_names: dict[str, tuple[int, int]] = {}
    required = [_required_names(rule) for rule in rules]
    for stage in order_stages(tested, [rule.outputs for rule in rules], required):
        first = len(shards)
        shards.append(Shard())
        for position in stage.rules:
            rule = rules[position]
            for branch_index, literals in enumerate(named[position]):
                positives, negatives = needs[(rule.index, branch_index)]
                names = positives | negatives
                shard = shards[-1]
                if (
                    len(shard.rules) >= MAX_RULES_PER_SHARD
                    or len(shard.names) + len(names - shard.names) > MAX_KEYS_PER_SHARD
                ):
                    shard = Shard()
                    shards.append(shard)
                name = f"r{rule.index}b{branch_index}"
                shard.rules.append(name)
                shard.parts.append(f'"{name}":{{"all":[{{"m":{_pattern_text(literals, keys)}}}]}}')
                shard.names.update(names)
                shard.triggers.update(positives)
                shard.unconditional = shard.unconditional or not positives
                durable_names[name] = (rule.index, branch_index)
        stages.append(ShardStage(tuple(range(first, len(shards))), stage.cyclic))
    return shards, stages, durable_names
