"""A compiled program: checked rules, floor entries and screen groups, backend-free.

It knows nothing of durable_rules: the durable backend
(``calfrules.engine.durable``) and the reference evaluator (``calfrules.engine.oracle``)
both run it.
"""

from __future__ import annotations

from dataclasses import dataclass

from calfrules.rules.condition import Atom, Expr, Literal
from calfrules.rules.errors import RulesetError
from calfrules.rules.model import (
    ConditionInfo,
    FloorEntry,
    Recommendation,
    Rule,
    RuleRef,
    Ruleset,
    ScreenGroup,
    ScreenQuestion,
    Source,
)


@dataclass(frozen=True)
class CompiledRule:
    """A checked rule with what every evaluator needs of it, worked out once."""

    index: int
    rule: Rule
    ruleset: Ruleset
    plugin: str | None
    expr: Expr
    branches: tuple[tuple[Literal, ...], ...]
    recommendations: tuple[Recommendation, ...]
    # resolved once here, not per assessment
    ref: RuleRef
    sources: tuple[Source, ...]
    recommendation_sources: tuple[tuple[Source, ...], ...]

    @property
    def outputs(self) -> tuple[str, ...]:
        return ((self.rule.conclude,) if self.rule.conclude else ()) + self.rule.derive


@dataclass(frozen=True)
class CompiledFloorEntry:
    """A floor entry with its condition parsed and the inputs it depends on."""

    entry: FloorEntry
    origin: str
    expr: Expr
    names: tuple[str, ...]
    # findings and scores it depends on, directly or through the rules that derive its names
    inputs: frozenset[str] = frozenset()
    # whether it holds for an empty case (then it can never be skipped)
    holds_when_nothing_is_known: bool = True
    sources: tuple[Source, ...] = ()
    # it tests findings and scores only: evaluated straight on them, with no backward chaining
    direct: bool = False
    positive_atoms: tuple[Atom, ...] = ()  # the atoms not under 'not': what can be shown as evidence


@dataclass(frozen=True)
class CompiledScreenGroup:
    """A screen group with its condition parsed and its questions resolved."""

    group: ScreenGroup
    expr: Expr
    questions: tuple[ScreenQuestion, ...] = ()  # its questions with their wording, resolved once


@dataclass
class Program:
    """The checked rules, floor and screen, ready for any evaluator (durable_rules or the oracle).

    What durable_rules needs on top (shards, stages, fact keys) is built from this by
    ``calfrules.engine.durable.definitions.build_plan``.
    """

    rules: tuple[CompiledRule, ...]
    floor: tuple[CompiledFloorEntry, ...]
    conditions: dict[str, ConditionInfo]
    derived_names: frozenset[str]
    errors: list[RulesetError]
    producers: dict[str, list[Expr]]  # derived name -> the conditions of rules that derive it
    screen: tuple[CompiledScreenGroup, ...] = ()
    level_source: Source | None = None
