"""Compile what the plugins and files contributed into a backend-free Program.

Every rule, floor entry and screen group is checked against the vocabulary
(``calfrules.rules.checker``); what durable_rules then needs is built from the
Program by ``calfrules.engine.durable.definitions.build_plan``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from calfrules.knowledge.registry import Registry
from calfrules.knowledge.screen import check_group
from calfrules.rules import condition
from calfrules.rules.checker import Names, check_condition
from calfrules.rules.condition import Expr
from calfrules.rules.errors import ConditionError, RulesetError
from calfrules.rules.evaluate import Prover, evaluate
from calfrules.rules.model import Recommendation, Rule, RuleRef, Ruleset, ScreenGroup, ScreenQuestion, Source
from calfrules.rules.program import CompiledFloorEntry, CompiledRule, CompiledScreenGroup, Program
from calfrules.rules.vocabulary import Vocabulary, suggest

# durable_rules allows at most 32 expressions in one node (error 113)
MAX_TESTS_PER_BRANCH = 30


def compile_registry(registry: Registry) -> Program:
    rulesets = [entry.ruleset for entry in registry.rulesets]
    names = Names(registry.vocabulary, registry.derivers, rulesets)
    errors: list[RulesetError] = []
    compiled: list[CompiledRule] = []
    for entry in registry.rulesets:
        ruleset = entry.ruleset
        first = len(compiled)  # a ruleset with an error is left out whole: indices stay dense
        sources = _sources_by_id(ruleset)
        try:
            rules = [
                _compile_rule(first + n, rule, ruleset, entry.plugin, names, registry, sources)
                for n, rule in enumerate(ruleset.rules)
            ]
        except RulesetError as exc:
            errors.append(exc)
            continue
        compiled.extend(rules)
    floor = []
    for floor_entry in registry.floor:
        origin = registry.floor.origin[floor_entry.id]
        try:
            expr = check_condition(
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
            expr = check_condition(group.when, names, origin, f"screen {group.id}")
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
        screen.append(_compile_group(group, expr, names.vocabulary))

    producers = _producers(compiled)
    floor = [_floor_relevance(entry, producers, names) for entry in floor]
    return Program(
        rules=tuple(compiled),
        floor=tuple(floor),
        conditions=names.conditions,
        derived_names=frozenset(names.derived | set(names.conditions)),
        errors=errors,
        producers=producers,
        screen=tuple(screen),
        level_source=registry.level_source,
    )


def _floor_relevance(entry: CompiledFloorEntry, producers: dict[str, list[Expr]], names: Names) -> CompiledFloorEntry:
    """An entry none of whose inputs is known holds exactly when it holds for an empty case,
    so the floor can skip it without evaluating (see policy._apply_floor)."""
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


def _compile_rule(
    index: int,
    rule: Rule,
    ruleset: Ruleset,
    plugin: str | None,
    names: Names,
    registry: Registry,
    sources: dict[str, Source],
) -> CompiledRule:
    where = ruleset.source or f"ruleset {ruleset.id}"
    expr = check_condition(rule.when, names, where, rule.id)
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
        index,
        rule,
        ruleset,
        plugin,
        expr,
        tuple(branches),
        recommendations,
        ref=RuleRef(rule=rule.id, ruleset=ruleset.id, plugin=plugin),
        sources=_cited(sources, rule.references),
        recommendation_sources=tuple(_cited(sources, rec.references or rule.references) for rec in recommendations),
    )


def _can_be_present(name: str, names: Names, registry: Registry) -> bool:
    """Whether advice can be withheld on account of ``name`` (a yes/no finding counts when it is yes)."""
    finding = names.vocabulary.findings.get(name)
    if finding is not None:
        return finding.type == "bool"
    return name in names.conditions or name in names.derived or name in registry.floor.entries


def _sources_by_id(ruleset: Ruleset) -> dict[str, Source]:
    """Each reference of the ruleset as a Source, the first of an id winning (as ``Ruleset.reference``)."""
    sources: dict[str, Source] = {}
    for ref in ruleset.references:
        sources.setdefault(ref.id, Source(ref.id, ref.citation, ref.url))
    return sources


def _cited(sources: dict[str, Source], ids: Iterable[str]) -> tuple[Source, ...]:
    return tuple(sources[ref_id] for ref_id in dict.fromkeys(ids) if ref_id in sources)


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


def _compile_group(group: ScreenGroup, expr: Expr, vocabulary: Vocabulary) -> CompiledScreenGroup:
    asked = (q for q in group.ask if q in vocabulary)
    return CompiledScreenGroup(group, expr, tuple(ScreenQuestion(q, vocabulary[q].question) for q in asked))
