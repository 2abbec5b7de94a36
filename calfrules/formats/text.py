"""Assessment as readable text: the level first, then conditions and reasons, then advice."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from calfrules.engine.assessment import Assessment, RecommendationResult
from calfrules.rules.levels import Level

# a title for each of RECOMMENDATION_KINDS (tests/test_architecture.py checks none is missing)
KIND_TITLES = {
    "seek_care": "Get care",
    "stop": "Stop",
    "treatment": "Treatment",
    "self_care": "Self-care",
    "exercise": "Exercises",
    "prevention": "Prevention",
    "return_to_run": "Return to running",
    "education": "Good to know",
}
_STYLE = {
    Level.EMERGENCY: "bold white on red",
    Level.URGENT: "bold red",
    Level.SEE_CLINICIAN: "bold yellow",
    Level.SELF_CARE: "bold green",
}


def describe_facts(
    matched: Mapping[str, object], unrecorded: Iterable[str] = (), quote: Callable[[str], str] = str
) -> str:
    """What was recorded, as recorded: a no reads "name: no"; unrecorded findings are named apart.

    ``quote`` marks up each finding id (the CDS card puts them in backticks).
    """
    parts = []
    for name, value in matched.items():
        if value is True:
            parts.append(quote(name))
        elif value is False:
            parts.append(f"{quote(name)}: no")
        else:
            parts.append(f"{quote(name)} = {value:g}" if isinstance(value, float) else f"{quote(name)} = {value}")
    missing = [quote(name) for name in unrecorded]
    if missing:
        parts.append(f"and {', '.join(missing)} not recorded")
    return ", ".join(parts) or "(nothing)"


def screen_title(level: Level) -> str:
    if level == Level.SELF_CARE:
        return "Before this can be self-care, ask:"
    return "Red-flag questions not yet answered (an answer of yes could raise the level):"


def screen_lines(a: Assessment) -> list[str]:
    """The unanswered red-flag questions, for the top of any rendering (empty when none)."""
    screen = a.red_flag_screen
    if screen.complete or a.level == Level.EMERGENCY:
        return []
    asked = {q.id: q.question for q in screen.questions}
    return [screen_title(a.level), *(f"{asked[q]}  [{q}]" for q in screen.unanswered)]


def render_lines(a: Assessment) -> Iterable[tuple[str, str]]:
    """(text, rich style) lines; the CLI prints them with or without colour."""
    yield f"LEVEL: {a.level.label.upper()} ({a.level.value})", _STYLE[a.level]
    yield a.level.meaning, ""
    if not a.complete:
        yield "INCOMPLETE ASSESSMENT - the level was raised to be safe:", "bold red"
        for problem in a.incomplete_reasons:
            yield f"  - {problem}", "red"
    questions = screen_lines(a)
    if questions:
        yield "", ""
        yield questions[0], "bold yellow"
        for line in questions[1:]:
            yield f"  ? {line}", "yellow"
    if a.level_reasons:
        yield "", ""
        yield "Why this level", "bold"
        for reason in a.level_reasons:
            yield f"  [{reason.level.value}] {reason.reason}  ({reason.source})", ""
    if a.red_flags:
        yield "", ""
        yield "Red flags", "bold red"
        for flag in a.red_flags:
            yield f"  ! {flag.label}: {flag.level.label.lower()}  (because: {describe_facts(flag.matched)})", "red"
    if a.scores:
        yield "", ""
        yield "Scores", "bold"
        for score in a.scores:
            parts = ", ".join(f"{k} {v:+g}" for k, v in score.components.items())
            yield f"  {score.label}: {score.value:g}  [{parts}]  {score.interpretation}", ""
            if score.unrecorded:
                yield f"    not recorded: {', '.join(score.unrecorded)}", "yellow"
    yield "", ""
    yield "Conditions considered", "bold"
    if not a.conditions:
        yield "  none concluded", "dim"
    for condition in a.conditions:
        marker = "  (red flag)" if condition.red_flag else ""
        yield f"  * {condition.label}{marker}", "bold"
        for because in condition.because:
            facts = describe_facts(because.matched, because.unrecorded)
            yield f"      because {facts}  [rule {because.rule.rule}, {because.rule.ruleset}]", ""
            yield f"      {because.rationale}", "dim"
    if a.recommendations:
        yield "", ""
        yield "Advice (most important first)", "bold"
        for kind, recs in _grouped(a.recommendations):
            yield f"  {KIND_TITLES[kind]}", "bold"
            for rec in recs:
                dose = f" [{rec.dose_text}]" if rec.dose_text else ""
                yield f"    - {rec.text}{dose}", ""
                if rec.return_if:
                    yield f"      Come back if: {rec.return_if}", ""
                cited = "; ".join(source.citation for source in rec.sources) or "no source given"
                yield f"      source: {cited} (rule {rec.rule.rule})", "dim"
    if a.withheld_recommendations:
        yield "", ""
        yield "Advice held back", "bold"
        for held in a.withheld_recommendations:
            yield f"    - {held.text}  ({held.reason})", "dim"
    if a.unexplained_findings:
        yield "", ""
        yield "Not explained by any condition: " + ", ".join(a.unexplained_findings), "yellow"
    if a.unused_findings:
        yield "Recorded but not used by any rule: " + ", ".join(a.unused_findings), "dim"
    if a.warnings:
        yield "", ""
        yield "Warnings while loading", "yellow"
        for warning in a.warnings:
            yield f"  - {warning}", "yellow"


def _grouped(recs: Iterable[RecommendationResult]) -> list[tuple[str, list[RecommendationResult]]]:
    groups: dict[str, list[RecommendationResult]] = {}
    for rec in recs:
        groups.setdefault(rec.kind, []).append(rec)
    return list(groups.items())


def render_text(a: Assessment) -> str:
    return "\n".join(text for text, _ in render_lines(a))
