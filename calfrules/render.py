"""Assessment as readable text: the level first, then conditions and reasons, then advice."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .assessment import Assessment, RecommendationResult
from .levels import Level

_KIND_TITLES = {
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


def _facts(matched: Mapping[str, object]) -> str:
    parts = []
    for name, value in matched.items():
        if value is True:
            parts.append(name)
        else:
            parts.append(f"{name} = {value:g}" if isinstance(value, float) else f"{name} = {value}")
    return ", ".join(parts) or "(nothing)"


def render_lines(a: Assessment) -> Iterable[tuple[str, str]]:
    """(text, rich style) lines; the CLI prints them with or without colour."""
    yield f"LEVEL: {a.level.label.upper()} ({a.level.value})", _STYLE[a.level]
    yield a.level.meaning, ""
    if not a.complete:
        yield "INCOMPLETE ASSESSMENT - the level was raised to be safe:", "bold red"
        for problem in a.incomplete_reasons:
            yield f"  - {problem}", "red"
    if a.level_reasons:
        yield "", ""
        yield "Why this level", "bold"
        for reason in a.level_reasons:
            yield f"  [{reason.level.value}] {reason.reason}  ({reason.source})", ""
    if a.red_flags:
        yield "", ""
        yield "Red flags", "bold red"
        for flag in a.red_flags:
            yield f"  ! {flag.label} -> at least {flag.level.value}  (because: {_facts(flag.matched)})", "red"
    if a.scores:
        yield "", ""
        yield "Scores", "bold"
        for score in a.scores:
            parts = ", ".join(f"{k} {v:+g}" for k, v in score.components.items())
            yield f"  {score.label}: {score.value:g}  [{parts}]  {score.interpretation}", ""
    yield "", ""
    yield "Conditions considered", "bold"
    if not a.conditions:
        yield "  none concluded", "dim"
    for condition in a.conditions:
        marker = "  (red flag)" if condition.red_flag else ""
        yield f"  * {condition.label}{marker}", "bold"
        for because in condition.because:
            yield f"      because {_facts(because.matched)}  [rule {because.rule.rule}, {because.rule.ruleset}]", ""
            yield f"      {because.rationale}", "dim"
    if a.recommendations:
        yield "", ""
        yield "Advice (most important first)", "bold"
        for kind, recs in _grouped(a.recommendations):
            yield f"  {_KIND_TITLES.get(kind, kind)}", "bold"
            for rec in recs:
                dose = f" [{rec.dose_text}]" if rec.dose_text else ""
                yield f"    - {rec.text}{dose}", ""
                if rec.return_if:
                    yield f"      Come back if: {rec.return_if}", ""
                cited = "; ".join(source.citation for source in rec.sources)
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
