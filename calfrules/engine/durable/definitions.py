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
  rules run (findings and Python scores); the driver sets a complement key when the
  atom is false, so every test is positive.
- Rules are split into shards small enough to stay clear of the beta limit
  (error 108 past about 256 rules sharing a first condition) and of the 512-slot
  alpha table that spins forever in findAlpha.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from calfrules.engine.durable.stages import order_stages
from calfrules.rules.condition import Answer, Atom, Compare, Literal, Truthy
from calfrules.rules.program import CompiledRule, Program

# durable_rules walks matching alpha nodes with a stack of 64 (error 303 past it). Each
# entry on it is a distinct subtree holding at least one rule, so 60 rules never overflow.
MAX_RULES_PER_SHARD = 60
# durable_rules refuses a message with more than 252 properties (error 302)
MAX_KEYS_PER_SHARD = 240
_OPS = {">=": "$gte", "<=": "$lte", ">": "$gt", "<": "$lt", "!=": "$neq"}


@dataclass
class Shard:
    definition: dict[str, Any] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)  # what its rules test: the keys its stage fact carries
    # a rule here can fire only if one of these is known (or some alternative tests only 'not's)
    triggers: set[str] = field(default_factory=set)
    unconditional: bool = False


@dataclass(frozen=True)
class ShardStage:
    shards: tuple[int, ...]
    cyclic: bool


@dataclass
class DurablePlan:
    """A Program as durable_rules runs it (built once per engine by ``build_plan``)."""

    shards: list[Shard]
    stages: list[ShardStage]  # run in order: each stage's shards once (cyclic ones until settled)
    durable_names: dict[str, tuple[int, int]]  # durable rule name -> (CompiledRule.index, branch index)
    fact_keys: dict[str, str]  # name (finding, score, complement, derived) -> property key in the stage fact
    # atoms under ``not`` (evaluated before the run): complement name -> its atom
    complements: dict[str, Atom]
    # positive ``x is no`` / ``x is recorded`` atoms (evaluated before the run): answer name -> its atom
    answers: dict[str, Answer]
    # (rule index, branch) -> the names it tests positively, and its complement names
    needs: dict[tuple[int, int], tuple[frozenset[str], frozenset[str]]] = field(default_factory=dict)
    # (rule index, branch) -> the one name it tests that the fewest alternatives test (None: only 'not's)
    anchors: dict[tuple[int, int], str | None] = field(default_factory=dict)


def build_plan(program: Program) -> DurablePlan:
    rules = list(program.rules)
    literals = [(atom, positive) for rule in rules for branch in rule.branches for atom, positive in branch]
    complements = {complement_name(atom): atom for atom, positive in literals if not positive}
    answers = {answer_name(atom): atom for atom, positive in literals if positive and isinstance(atom, Answer)}
    keys = fact_keys(rules)
    needs = {
        (rule.index, number): (
            frozenset(literal_name(atom, True) for atom, positive in branch if positive),
            frozenset(literal_name(atom, False) for atom, positive in branch if not positive),
        )
        for rule in rules
        for number, branch in enumerate(rule.branches)
    }
    shards, stages, durable_names = shard(rules, keys, needs)
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


def complement_name(atom: Atom) -> str:
    return "!" + atom.key()


def answer_name(atom: Answer) -> str:
    return "?" + atom.key()


def literal_name(atom: Atom, positive: bool) -> str:
    """The stage-fact name a literal tests: the atom's own name, or a name set before the run."""
    if not positive:
        return complement_name(atom)
    return answer_name(atom) if isinstance(atom, Answer) else atom.name


def _branch_names(branch: tuple[Literal, ...]) -> list[str]:
    return sorted({literal_name(atom, positive) for atom, positive in branch})


def fact_keys(rules: list[CompiledRule]) -> dict[str, str]:
    names = sorted({name for rule in rules for branch in rule.branches for name in _branch_names(branch)})
    return {name: f"x{i}" for i, name in enumerate(names)}


def _pattern(branch: tuple[Literal, ...], keys: dict[str, str]) -> dict[str, Any]:
    """All tests of one alternative on the one stage fact (ranges such as
    ``x >= 30 and x <= 33`` are two tests on the same key)."""
    tests: list[dict[str, Any]] = []
    for atom, positive in sorted(branch, key=lambda literal: (literal[0].key(), literal[1])):
        if not positive or isinstance(atom, Answer):
            tests.append({keys[literal_name(atom, positive)]: True})
        elif isinstance(atom, Truthy):
            tests.append({keys[atom.name]: True})
        else:
            assert isinstance(atom, Compare)
            key = keys[atom.name]
            tests.append({key: atom.value} if atom.op == "==" else {_OPS[atom.op]: {key: atom.value}})
    return tests[0] if len(tests) == 1 else {"$and": tests}


def _required_names(rule: CompiledRule) -> set[str]:
    """Names the rule tests positively in every alternative: it cannot fire without them."""
    per_branch = [{atom.name for atom, positive in branch if positive} for branch in rule.branches]
    return set.intersection(*per_branch) if per_branch else set()


def shard(
    rules: list[CompiledRule], keys: dict[str, str], needs: dict[tuple[int, int], tuple[frozenset[str], frozenset[str]]]
) -> tuple[list[Shard], list[ShardStage], dict[str, tuple[int, int]]]:
    tested = [[atom.name for branch in rule.branches for atom, _ in branch] for rule in rules]
    shards: list[Shard] = []
    stages: list[ShardStage] = []
    durable_names: dict[str, tuple[int, int]] = {}
    required = [_required_names(rule) for rule in rules]
    for stage in order_stages(tested, [rule.outputs for rule in rules], required):
        first = len(shards)
        shards.append(Shard())
        for rule in (rules[index] for index in stage.rules):
            for branch_index, branch in enumerate(rule.branches):
                positives, negatives = needs[(rule.index, branch_index)]
                names = positives | negatives
                shard = shards[-1]
                if len(shard.definition) >= MAX_RULES_PER_SHARD or len(shard.names | names) > MAX_KEYS_PER_SHARD:
                    shard = Shard()
                    shards.append(shard)
                name = f"r{rule.index}b{branch_index}"
                shard.definition[name] = {"all": [{"m": _pattern(branch, keys)}]}
                shard.names.update(names)
                shard.triggers.update(positives)
                shard.unconditional = shard.unconditional or not positives
                durable_names[name] = (rule.index, branch_index)
        stages.append(ShardStage(tuple(range(first, len(shards))), stage.cyclic))
    return shards, stages, durable_names
