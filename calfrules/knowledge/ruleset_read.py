"""Read a ruleset from parsed TOML: strict, every field checked, errors say where."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, TypeGuard

from calfrules.rules import condition
from calfrules.rules.errors import ConditionError, RulesetError
from calfrules.rules.levels import Level
from calfrules.rules.model import (
    DOSE_FIELDS,
    RECOMMENDATION_KINDS,
    ConditionInfo,
    DoseValue,
    Expectation,
    FloorEntry,
    GoldenCase,
    Recommendation,
    Reference,
    Rule,
    Ruleset,
    ScreenGroup,
)
from calfrules.rules.vocabulary import FINDING_KINDS, FINDING_TYPES, Finding

ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


class _Reader:
    """Pulls typed fields out of one TOML table and complains precisely."""

    def __init__(self, data: object, where: str, source: str, rule: str | None = None) -> None:
        if not isinstance(data, Mapping):
            raise RulesetError(f"{where} must be a table", source=source, rule=rule)
        self.data = dict(data)
        self.where = where
        self.source = source
        self.rule = rule

    def error(self, message: str, column: int | None = None) -> RulesetError:
        return RulesetError(f"{self.where}: {message}", source=self.source, rule=self.rule, column=column)

    def take(self, key: str, kind: type | tuple[type, ...], default: Any = ..., *, required: bool = False) -> Any:
        if key not in self.data:
            if required or default is ...:
                raise self.error(f"missing {key!r}")
            return default
        value = self.data.pop(key)
        if isinstance(value, bool) and kind in (int, float, (int, float)):
            raise self.error(f"{key!r} must be a number, not {value!r}")
        if not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.error(f"{key!r} must be {_article(names)}, not {type(value).__name__}")
        return value

    def take_str_list(self, key: str) -> tuple[str, ...]:
        value = self.take(key, (list, str), [])
        items = [value] if isinstance(value, str) else value
        if not all(isinstance(item, str) for item in items):
            raise self.error(f"{key!r} must be a list of strings")
        return tuple(items)

    def take_id(self, key: str = "id") -> str:
        value: str = self.take(key, str, required=True)
        check_id(value, self.error)
        return value

    def done(self) -> None:
        if self.data:
            unknown = ", ".join(sorted(self.data))
            raise self.error(f"unknown field(s): {unknown}")


def _article(name: str) -> str:
    return ("an " if name[:1] in "aeiou" else "a ") + name


def check_id(value: str, error: Any) -> None:
    if not ID_PATTERN.match(value):
        raise error(f"id {value!r} must be lower case letters, digits and _ (starting with a letter)")


def ruleset_from_data(data: Mapping[str, Any], source: str = "") -> Ruleset:
    """Build a Ruleset from parsed TOML, validating every field."""
    top = _Reader(data, "ruleset", source)
    ruleset_id = top.take_id()
    references = tuple(_reference(item, source) for item in top.take("references", list, []))
    findings = tuple(_finding(fid, item, source) for fid, item in top.take("findings", dict, {}).items())
    conditions = tuple(_condition_info(cid, item, source) for cid, item in top.take("conditions", dict, {}).items())
    rules = tuple(_rule(item, source) for item in top.take("rules", list, []))
    floor = tuple(_floor(item, source) for item in top.take("floor", list, []))
    screen = tuple(_screen(item, source) for item in top.take("screen", list, []))
    tests = tuple(_golden(item, source) for item in top.take("tests", list, []))
    ruleset = Ruleset(
        id=ruleset_id,
        version=top.take("version", str, required=True),
        title=top.take("title", str, required=True),
        authors=top.take_str_list("authors"),
        description=top.take("description", str, ""),
        references=references,
        findings=findings,
        conditions=conditions,
        rules=rules,
        floor=floor,
        screen=screen,
        tests=tests,
        source=source,
    )
    top.done()
    _check_local_consistency(ruleset)
    return ruleset


def _check_local_consistency(ruleset: Ruleset) -> None:
    source = ruleset.source
    for kind, ids in (
        ("rule", [r.id for r in ruleset.rules]),
        ("test", [t.id for t in ruleset.tests]),
        ("floor entry", [f.id for f in ruleset.floor]),
        ("screen group", [g.id for g in ruleset.screen]),
        ("reference", [r.id for r in ruleset.references]),
    ):
        seen: set[str] = set()
        for item_id in ids:
            if item_id in seen:
                raise RulesetError(f"two {kind}s share the id {item_id!r}", source=source)
            seen.add(item_id)
    known_refs = {ref.id for ref in ruleset.references}
    for rule in ruleset.rules:
        cited = set(rule.references)
        for ref in rule.references:
            if ref not in known_refs:
                raise RulesetError(f"cites unknown reference {ref!r}", source=source, rule=rule.id)
        for rec in rule.recommend:
            for ref in rec.references:
                if ref not in known_refs:
                    raise RulesetError(
                        f"recommendation {rec.id} cites unknown reference {ref!r}", source=source, rule=rule.id
                    )
            if not (cited or rec.references):
                raise RulesetError(
                    f"recommendation {rec.id} has no source: add references to it or to the rule",
                    source=source,
                    rule=rule.id,
                )
    for entry in ruleset.floor:
        for ref in entry.references:
            if ref not in known_refs:
                raise RulesetError(f"floor entry {entry.id} cites unknown reference {ref!r}", source=source)
    for group in ruleset.screen:
        for ref in group.references:
            if ref not in known_refs:
                raise RulesetError(f"screen group {group.id} cites unknown reference {ref!r}", source=source)


def _reference(item: object, source: str) -> Reference:
    r = _Reader(item, "reference", source)
    ref = Reference(id=r.take_id(), citation=r.take("citation", str, required=True), url=r.take("url", str, None))
    r.done()
    return ref


def _finding(finding_id: str, item: object, source: str) -> Finding:
    r = _Reader(item, f"finding {finding_id}", source)
    check_id(finding_id, r.error)
    ftype = r.take("type", str, required=True)
    if ftype not in FINDING_TYPES:
        raise r.error(f"type must be one of {', '.join(FINDING_TYPES)}")
    kind = r.take("kind", str, "symptom")
    if kind not in FINDING_KINDS:
        raise r.error(f"kind must be one of {', '.join(FINDING_KINDS)}")
    minimum = r.take("minimum", (int, float), None)
    maximum = r.take("maximum", (int, float), None)
    choices = r.take_str_list("choices")
    if ftype == "choice" and not choices:
        raise r.error("a choice finding needs a list of choices")
    if ftype != "number" and (minimum is not None or maximum is not None):
        raise r.error("only number findings take a minimum or maximum")
    for bound in (minimum, maximum):
        if bound is not None and not _is_finite_number(bound):
            raise r.error("minimum and maximum must be finite numbers of a sensible size")
    if minimum is not None and maximum is not None and minimum > maximum:
        raise r.error(f"minimum {minimum} is above maximum {maximum}: no value could be recorded")
    finding = Finding(
        id=finding_id,
        type=ftype,
        label=r.take("label", str, required=True),
        question=r.take("question", str, required=True),
        kind=kind,
        unit=r.take("unit", str, None),
        minimum=None if minimum is None else float(minimum),
        maximum=None if maximum is None else float(maximum),
        choices=choices,
        group=r.take("group", str, "general"),
    )
    r.done()
    return finding


def _condition_info(condition_id: str, item: object, source: str) -> ConditionInfo:
    r = _Reader(item, f"condition {condition_id}", source)
    check_id(condition_id, r.error)
    info = ConditionInfo(
        id=condition_id,
        label=r.take("label", str, required=True),
        description=r.take("description", str, ""),
        red_flag=r.take("red_flag", bool, False),
    )
    r.done()
    return info


def _level(r: _Reader, key: str, required: bool = False) -> Level | None:
    text = r.take(key, str, None, required=required)
    if text is None:
        return None
    try:
        return Level.parse(text)
    except ValueError as exc:
        raise r.error(str(exc)) from None


def _when(r: _Reader) -> str:
    text: str = r.take("when", str, required=True)
    try:
        condition.parse(text)
    except ConditionError as exc:
        raise r.error(
            f"in 'when': {exc.message}\n  {exc.pointer().replace(chr(10), chr(10) + '  ')}", exc.column
        ) from None
    return text


def _rule(item: object, source: str) -> Rule:
    rule_id = item.get("id") if isinstance(item, Mapping) else None
    r = _Reader(item, "rule", source, rule=rule_id if isinstance(rule_id, str) else None)
    rule = Rule(
        id=r.take_id(),
        when=_when(r),
        rationale=r.take("rationale", str, required=True),
        references=r.take_str_list("references"),
        conclude=_optional_id(r, "conclude"),
        derive=r.take_str_list("derive"),
        escalate=_level(r, "escalate"),
        recommend=tuple(_recommendation(rec, source, r.rule) for rec in r.take("recommend", list, [])),
        description=r.take("description", str, ""),
    )
    for name in rule.derive:
        check_id(name, r.error)
    r.done()
    if not (rule.conclude or rule.derive or rule.escalate or rule.recommend):
        raise r.error("does nothing: give it conclude, derive, escalate or recommend")
    return rule


def _optional_id(r: _Reader, key: str) -> str | None:
    value: str | None = r.take(key, str, None)
    if value is not None:
        check_id(value, r.error)
    return value


def _recommendation(item: object, source: str, rule: str | None) -> Recommendation:
    r = _Reader(item, "recommendation", source, rule)
    rec_id = r.take_id()
    kind = r.take("kind", str, "self_care")
    if kind not in RECOMMENDATION_KINDS:
        raise r.error(f"kind must be one of {', '.join(RECOMMENDATION_KINDS)}")
    dose_table = r.take("dose", dict, {})
    dose: list[tuple[str, DoseValue]] = []
    for key, value in dose_table.items():
        if key not in DOSE_FIELDS:
            raise r.error(f"unknown dose field {key!r}; use {', '.join(DOSE_FIELDS)}")
        dose.append((key, _dose_value(r, key, value)))
    rec = Recommendation(
        id=rec_id,
        text=r.take("text", str, required=True),
        kind=kind,
        priority=r.take("priority", int, 50),
        dose=tuple(dose),
        references=r.take_str_list("references"),
        return_if=r.take("return_if", str, None),
        avoid_with=r.take_str_list("avoid_with"),
    )
    r.done()
    return rec


def _dose_value(r: _Reader, key: str, value: object) -> DoseValue:
    if _is_finite_number(value) and value > 0:
        return value
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(_is_finite_number(v) for v in value)
        and 0 < value[0] <= value[1]
    ):
        return (value[0], value[1])
    raise r.error(f"dose {key!r} must be a positive number or a range [low, high]")


def _is_finite_number(value: object) -> TypeGuard[int | float]:
    """A number that is not NaN, not infinite, and fits a float (TOML integers may not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _floor(item: object, source: str) -> FloorEntry:
    r = _Reader(item, "floor entry", source)
    entry = FloorEntry(
        id=r.take_id(),
        when=_when(r),
        level=_level(r, "level", required=True),  # type: ignore[arg-type]
        label=r.take("label", str, required=True),
        rationale=r.take("rationale", str, ""),
        references=r.take_str_list("references"),
    )
    r.done()
    return entry


def _screen(item: object, source: str) -> ScreenGroup:
    r = _Reader(item, "screen group", source)
    group = ScreenGroup(
        id=r.take_id(),
        label=r.take("label", str, required=True),
        when=_when(r),
        ask=r.take_str_list("ask"),
        default=r.take("default", bool, False),
        rationale=r.take("rationale", str, ""),
        references=r.take_str_list("references"),
    )
    r.done()
    if not group.ask:
        raise r.error(f"screen group {group.id} asks nothing: list the yes/no findings to ask in 'ask'")
    for finding_id in group.ask:
        check_id(finding_id, r.error)
    return group


def _golden(item: object, source: str) -> GoldenCase:
    r = _Reader(item, "test", source)
    test_id = r.take_id()
    findings = r.take("findings", dict, required=True)
    e = _Reader(r.take("expect", dict, required=True), f"test {test_id} expect", source)
    expect = Expectation(
        level=_level(e, "level"),
        conditions=e.take_str_list("conditions"),
        absent_conditions=e.take_str_list("absent_conditions"),
        recommendations=e.take_str_list("recommendations"),
        red_flags=e.take_str_list("red_flags"),
        screen_complete=e.take("screen_complete", bool, None),
        screen_groups=e.take_str_list("screen_groups"),
    )
    e.done()
    golden = GoldenCase(
        id=test_id, findings=tuple(findings.items()), expect=expect, description=r.take("description", str, "")
    )
    r.done()
    return golden
