"""Check rulesets against the vocabulary and compile them: rules, floor, screen.

What the durable_rules definitions look like, and why, is in durable_definitions.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from . import condition
from .assessment import RuleRef, Source
from .condition import Answer, Atom, Expr, Literal, Truthy
from .durable_definitions import Shard, ShardStage, answer_name, complement_name, fact_keys, shard
from .errors import ConditionError, RulesetError
from .model import ConditionInfo, FloorEntry, Recommendation, Rule, Ruleset
from .registry import Registry
from .screen import check_group
from .screening import CompiledScreenGroup, compile_group
from .vocabulary import suggest

# durable_rules allows at most 32 expressions in one node (error 113)
MAX_TESTS_PER_BRANCH = 30


@dataclass(frozen=True)
class CompiledRule:
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


@dataclass
class Program:
    rules: tuple[CompiledRule, ...]
    floor: tuple[CompiledFloorEntry, ...]
    conditions: dict[str, ConditionInfo]
    derived_names: frozenset[str]
    shards: list[Shard]
    stages: list[ShardStage]  # run in order: each stage's shards once (cyclic ones until settled)
    durable_names: dict[str, tuple[int, int]]  # durable rule name -> (CompiledRule.index, branch index)
    fact_keys: dict[str, str]  # name (finding, score, complement, derived) -> property key in the stage fact
    errors: list[RulesetError]
    # atoms under ``not`` (evaluated before the run): complement name -> its atom
    complements: dict[str, Atom]
    # positive ``x is no`` / ``x is recorded`` atoms (evaluated before the run): answer name -> its atom
    answers: dict[str, Answer]
    producers: dict[str, list[Expr]]  # derived name -> the conditions of rules that derive it
    screen: tuple[CompiledScreenGroup, ...] = ()
    level_source: Source | None = None


class _Names:
    """What a name in a condition can refer to."""

    def __init__(self, registry: Registry, rulesets: Iterable[Ruleset]) -> None:
        self.vocabulary = registry.vocabulary
        self.scores = set(registry.derivers)
        self.conditions: dict[str, ConditionInfo] = {}
        self.derived: set[str] = set()
        for ruleset in rulesets:
            for info in ruleset.conditions:
                self.conditions.setdefault(info.id, info)
            for rule in ruleset.rules:
                self.derived.update(rule.derive)

    def all(self) -> list[str]:
        return [*self.vocabulary.findings, *self.scores, *self.conditions, *self.derived]

    def is_known_before_run(self, name: str) -> bool:
        return name in self.vocabulary or name in self.scores


def compile_registry(registry: Registry) -> Program:
    rulesets = [entry.ruleset for entry in registry.rulesets]
    names = _Names(registry, rulesets)
    errors: list[RulesetError] = []
    compiled: list[CompiledRule] = []
    for entry in registry.rulesets:
        ruleset = entry.ruleset
        try:
            rules = [_compile_rule(rule, ruleset, entry.plugin, names, registry) for rule in ruleset.rules]
        except RulesetError as exc:
            errors.append(exc)
            continue
        for rule in rules:
            compiled.append(replace(rule, index=len(compiled)))
    floor = []
    for floor_entry in registry.floor:
        origin = registry.floor.origin[floor_entry.id]
        try:
            expr = _check_condition(
                floor_entry.when, names, origin, f"floor {floor_entry.id}", allow_derived_negation=True
            )
        except RulesetError as exc:
            errors.append(exc)
            continue
        floor.append(
            CompiledFloorEntry(
                floor_entry,
                origin,
                expr,
                tuple(sorted(condition.names(expr))),
                sources=registry.floor.sources.get(floor_entry.id, ()),
            )
        )

    screen = []
    for group in registry.screen:
        origin = registry.screen.origin[group.id]
        try:
            expr = _check_condition(group.when, names, origin, f"screen {group.id}")
            findings_only = [n for n in condition.names(expr) if n not in names.vocabulary]
            problem = check_group(group, names.vocabulary) or (
                f"screen group {group.id}: 'when' may test findings only, not {findings_only[0]!r}"
                if findings_only
                else None
            )
            if problem:
                raise RulesetError(problem, source=origin)
        except RulesetError as exc:
            errors.append(exc)
            continue
        screen.append(compile_group(group, expr, names.vocabulary))

    complements = {
        complement_name(atom): atom
        for rule in compiled
        for branch in rule.branches
        for atom, positive in branch
        if not positive
    }
    answers = {
        answer_name(atom): atom
        for rule in compiled
        for branch in rule.branches
        for atom, positive in branch
        if positive and isinstance(atom, Answer)
    }
    keys = fact_keys(compiled)
    shards, stages, durable_names = shard(compiled, keys)
    producers = _producers(compiled)
    floor = [_floor_relevance(entry, producers, names) for entry in floor]
    return Program(
        rules=tuple(compiled),
        floor=tuple(floor),
        conditions=names.conditions,
        derived_names=frozenset(names.derived | set(names.conditions)),
        shards=shards,
        stages=stages,
        durable_names=durable_names,
        fact_keys=keys,
        errors=errors,
        complements=complements,
        answers=answers,
        producers=producers,
        screen=tuple(screen),
        level_source=registry.level_source,
    )


def _floor_relevance(entry: CompiledFloorEntry, producers: dict[str, list[Expr]], names: _Names) -> CompiledFloorEntry:
    """An entry none of whose inputs is known holds exactly when it holds for an empty case,
    so the floor can skip it without evaluating (see explain._apply_floor)."""
    from .oracle import Prover, evaluate  # the oracle imports this module

    inputs: set[str] = set()
    seen: set[str] = set()
    stack = list(condition.names(entry.expr))
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        if names.is_known_before_run(name):
            inputs.add(name)
        for expr in producers.get(name, []):
            stack.extend(condition.names(expr))
    empty = Prover(producers, {})
    return replace(
        entry,
        inputs=frozenset(inputs),
        holds_when_nothing_is_known=evaluate(entry.expr, empty.lookup),
        direct=all(names.is_known_before_run(name) for name in entry.names),
        positive_atoms=tuple(dict.fromkeys(atom for atom, negated in condition.atoms(entry.expr) if not negated)),
    )


def _producers(rules: list[CompiledRule]) -> dict[str, list[Expr]]:
    producers: dict[str, list[Expr]] = {}
    for rule in rules:
        for name in rule.outputs:
            producers.setdefault(name, []).append(rule.expr)
    return producers


def _compile_rule(rule: Rule, ruleset: Ruleset, plugin: str | None, names: _Names, registry: Registry) -> CompiledRule:
    where = ruleset.source or f"ruleset {ruleset.id}"
    expr = _check_condition(rule.when, names, where, rule.id)
    try:
        branches = condition.to_dnf(expr)
    except ConditionError as exc:
        raise RulesetError(exc.message, source=where, rule=rule.id) from None
    for branch in branches:
        if len(branch) > MAX_TESTS_PER_BRANCH:
            raise RulesetError(
                f"one alternative of 'when' has {len(branch)} tests; at most {MAX_TESTS_PER_BRANCH} "
                "can be joined with 'and' (split the rule, or derive an intermediate fact)",
                source=where,
                rule=rule.id,
            )
    if rule.conclude and rule.conclude not in names.conditions:
        hint = suggest(rule.conclude, names.conditions)
        tip = f" (did you mean {', '.join(hint)}?)" if hint else ""
        raise RulesetError(
            f"concludes {rule.conclude!r}, which no ruleset declares under [conditions]{tip}",
            source=where,
            rule=rule.id,
        )
    for name in ((rule.conclude,) if rule.conclude else ()) + rule.derive:
        if names.is_known_before_run(name):
            raise RulesetError(
                f"cannot derive {name!r}: it is a finding or score, known before the rules run",
                source=where,
                rule=rule.id,
            )
    recommendations = tuple(_resolve_text(rec, registry, where, rule.id) for rec in rule.recommend)
    for rec in recommendations:
        for name in rec.avoid_with:
            if not _can_be_present(name, names, registry):
                hint = suggest(
                    name, [*names.conditions, *names.derived, *registry.floor.entries, *names.vocabulary.findings]
                )
                tip = f" (did you mean {', '.join(hint)}?)" if hint else ""
                raise RulesetError(
                    f"recommendation {rec.id}: avoid_with names {name!r}, which is no condition, derived fact, "
                    f"floor entry or yes/no finding{tip}",
                    source=where,
                    rule=rule.id,
                )
    return CompiledRule(
        0,
        rule,
        ruleset,
        plugin,
        expr,
        tuple(branches),
        recommendations,
        ref=RuleRef(rule=rule.id, ruleset=ruleset.id, plugin=plugin),
        sources=_sources(ruleset, rule.references),
        recommendation_sources=tuple(_sources(ruleset, rec.references or rule.references) for rec in recommendations),
    )


def _can_be_present(name: str, names: _Names, registry: Registry) -> bool:
    """Whether advice can be withheld on account of ``name`` (a yes/no finding counts when it is yes)."""
    finding = names.vocabulary.findings.get(name)
    if finding is not None:
        return finding.type == "bool"
    return name in names.conditions or name in names.derived or name in registry.floor.entries


def _sources(ruleset: Ruleset, ids: Iterable[str]) -> tuple[Source, ...]:
    found = []
    for ref_id in dict.fromkeys(ids):
        ref = ruleset.reference(ref_id)
        if ref is not None:
            found.append(Source(ref.id, ref.citation, ref.url))
    return tuple(found)


def _resolve_text(rec: Recommendation, registry: Registry, where: str, rule_id: str) -> Recommendation:
    supplied = registry.texts.get(rec.id)
    if rec.text.strip():
        if supplied is not None:
            registry.problems.append(
                f"plugin {supplied[1]}: refused: text for {rec.id!r} would override the ruleset's own text"
            )
        return rec
    if supplied is None:
        raise RulesetError(f"recommendation {rec.id} has no text and no plugin supplies it", source=where, rule=rule_id)
    return replace(rec, text=supplied[0])


def _check_condition(
    text: str, names: _Names, where: str, rule_id: str, *, allow_derived_negation: bool = False
) -> Expr:
    try:
        expr = condition.parse(text)
    except ConditionError as exc:
        raise RulesetError(f"in 'when': {exc.message}", source=where, rule=rule_id, column=exc.column) from None
    for atom, negated in condition.atoms(expr):
        problem = _atom_problem(atom, negated, names, allow_derived_negation)
        if problem:
            raise RulesetError(f"in 'when': {problem}", source=where, rule=rule_id, column=atom.column)
    return expr


def _atom_problem(atom: Atom, negated: bool, names: _Names, allow_derived_negation: bool) -> str | None:
    name = atom.name
    finding = names.vocabulary.findings.get(name)
    if isinstance(atom, Answer):
        if finding is None:
            return f"'{atom.key()}': only a finding is recorded or not; {name} is not a finding"
        if atom.answer == "no" and finding.type != "bool":
            return f"'{atom.key()}': {name} is not yes/no; write {name} is recorded, or compare it"
        return None
    if finding is None and name not in names.scores and name not in names.conditions and name not in names.derived:
        hint = suggest(name, names.all())
        tip = f"; did you mean {', '.join(hint)}?" if hint else ""
        return f"unknown id {name!r}{tip}"
    if negated and not allow_derived_negation and not names.is_known_before_run(name):
        return (
            f"'not {name}': {name} is concluded by rules, and 'not' may only test findings "
            "and scores (what is known before the rules run)"
        )
    is_number = (finding is not None and finding.type == "number") or name in names.scores
    if isinstance(atom, Truthy):
        if is_number:
            return f"{name} is a number: compare it, for example {name} >= 1"
        if finding is not None and finding.type == "choice":
            return f"{name} is a choice: compare it, for example {name} == {finding.choices[0]!r}"
        return None
    if finding is None and not is_number:
        return f"{name} is yes/no: write {name}, not {name} or {name} is no, not a comparison"
    if is_number:
        if isinstance(atom.value, str):
            return f"{name} is a number: compare it with a number, not {atom.value!r}"
        return None
    assert finding is not None
    if finding.type == "bool":
        return f"{name} is yes/no: write {name}, not {name} or {name} is no, not a comparison"
    if atom.op not in ("==", "!="):
        return f"{name} is a choice: use == or != (or in [...])"
    if atom.value not in finding.choices:
        return f"{atom.value!r} is not a choice of {name}; use one of {', '.join(finding.choices)}"
    return None
