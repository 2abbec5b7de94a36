"""An assessment as a CDS Hooks card: indicator from the level, a short summary, a markdown detail,
the decisive ruleset's documentation, a link to the recorded assessment, suggestions where an
action fits (``suggestions.py``) and coded override reasons."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from calfrules.engine.assessment import Assessment
from calfrules.formats.references import number_references
from calfrules.formats.text import describe_facts, screen_lines
from calfrules.rules.levels import Level
from calfrules.service.bodies import SUMMARY_MAX, Card, Indicator
from calfrules.service.suggestions import OVERRIDE_REASONS, WELLS_SCORE, offer_for, suggestions

__all__ = ["INDICATOR", "SUMMARY_MAX", "card_for", "deciding_ruleset", "detail", "summary"]
MAX_UNKNOWN_CODES = 20  # listed in the detail; more are counted

INDICATOR: dict[Level, Indicator] = {
    Level.EMERGENCY: "critical",
    Level.URGENT: "critical",
    Level.SEE_CLINICIAN: "warning",
    Level.SELF_CARE: "info",
}


def card_for(
    assessment: Assessment,
    *,
    uuid: str,
    source_label: str,
    base_url: str | None = None,
    patient_id: str | None = None,
    recorded: bool = True,
    unknown_codes: Sequence[str] = (),
) -> Card:
    """The card for ``assessment``; ``uuid`` is its audit record's id.

    ``base_url`` (the service's own URL) adds ``source.url`` (GET /rulesets/{id} of the
    ruleset that decided the level) and, when ``recorded``, a link to GET
    /assessments/{uuid}. ``patient_id`` lets an order name its subject. ``unknown_codes``
    (FHIR codes nothing mapped to a finding) are listed in the detail, never guessed.
    """
    a = assessment
    card: Card = {
        "uuid": uuid,
        "summary": summary(a),
        "detail": detail(a) + _unknown_codes_section(unknown_codes),
        "indicator": INDICATOR[a.level],
        "source": {"label": source_label},
        "overrideReasons": list(OVERRIDE_REASONS),
        "extension": {
            "calfrules-level": a.level.value,
            "calfrules-complete": a.complete,
            "calfrules-screen-complete": a.red_flag_screen.complete,
        },
    }
    if base_url:
        root = base_url.rstrip("/")
        ruleset = deciding_ruleset(a)
        card["source"]["url"] = f"{root}/rulesets/{ruleset}" if ruleset else f"{root}/rulesets"
        if recorded:
            card["links"] = [
                {"label": "Full assessment (JSON)", "url": f"{root}/assessments/{uuid}", "type": "absolute"}
            ]
    wells = next((s.value for s in a.scores if s.id == WELLS_SCORE), None)
    offer = offer_for(a.level.value, [flag.id for flag in a.red_flags], wells)
    if offer.kinds:
        card["suggestions"] = suggestions(offer, uuid, patient_id)
        card["selectionBehavior"] = offer.selection
    return card


def deciding_ruleset(assessment: Assessment) -> str | None:
    """The ruleset of the first rule that raised the case to its level (else of the first
    condition's rule): where a clinician reads why."""
    for step in assessment.trace:
        if step.escalated == assessment.level:
            return step.rule.ruleset
    for condition in assessment.conditions:
        for reason in condition.because[:1]:
            return reason.rule.ruleset
    return None


def _unknown_codes_section(codes: Sequence[str]) -> str:
    if not codes:
        return ""
    shown = ", ".join(f"`{_md(code)}`" for code in codes[:MAX_UNKNOWN_CODES])
    more = f" and {len(codes) - MAX_UNKNOWN_CODES} more" if len(codes) > MAX_UNKNOWN_CODES else ""
    return (
        f"\n\n### Codes not used\nNot used: {shown}{more}. No finding is mapped to these codes, so they did "
        "not count towards this advice; map them with a code map, or record the findings directly."
    )


def summary(assessment: Assessment) -> str:
    """Level first, then the most important thing behind it, then any unanswered red-flag
    questions (those are never cut off); never over 139 characters."""
    if assessment.red_flags:
        headline = assessment.red_flags[0].label
    elif assessment.conditions:
        headline = assessment.conditions[0].label
    else:
        headline = assessment.level.meaning
    prefix = "" if assessment.complete else "INCOMPLETE assessment. "
    suffix = _screen_suffix(assessment)
    return _shorten(f"{prefix}{assessment.level.label}: {headline}", SUMMARY_MAX - len(suffix)) + suffix


def _screen_suffix(assessment: Assessment) -> str:
    if not screen_lines(assessment):
        return ""
    count = len(assessment.red_flag_screen.unanswered)
    questions = f"{count} red-flag question{'s' if count != 1 else ''}"
    if assessment.level == Level.SELF_CARE:
        return f" (ask {questions} first)"
    return f" ({questions} unanswered)"


def detail(assessment: Assessment) -> str:
    """Everything a clinician needs to check the basis of the advice: reasons, rules and sources,
    numbered as in the text rendering ([1] is the same source in each)."""
    a = assessment
    refs = number_references(a)
    lines = [f"**{a.level.label}**: {a.level.meaning}", ""]
    if not a.complete:
        lines += ["**Incomplete**: the level was raised to at least urgent because:"]
        lines += [f"- {_md(reason)}" for reason in a.incomplete_reasons] + [""]
    lines += _screen_section(a)
    lines += ["### Why this level"]
    lines += [f"- **{r.level.value}**: {_md(r.reason)} *({_md(r.source)})*" for r in a.level_reasons] or ["- -"]
    if a.red_flags:
        lines += ["", "### Red flags"]
        for flag in a.red_flags:
            facts = describe_facts(flag.matched, (), _code)
            lines.append(f"- **{_md(flag.label)}**: {flag.level.value}, from {facts}{_cited(refs.cite(flag.sources))}")
    if a.scores:
        lines += ["", "### Scores"]
        for s in a.scores:
            missing = f". Not recorded: {_names(s.unrecorded)}" if s.unrecorded else ""
            lines.append(f"- **{_md(s.label)}**: {s.value:g}. {_md(s.interpretation)}{missing}")
    if a.conditions:
        lines += ["", "### Conditions considered"]
        above = {r.reason for r in a.level_reasons}
        for condition in a.conditions:
            cited = refs.cite(s for because in condition.because for s in because.sources) or "no source"
            for reason in condition.because[:1]:
                facts = describe_facts(reason.matched, reason.unrecorded, _code)
                why = "see Why this level" if reason.rationale in above else _md(reason.rationale)
                lines.append(
                    f"- **{_md(condition.label)}**, because {facts}: {why} "
                    f"*(rule {reason.rule.rule}, {reason.rule.ruleset}; {cited})*"
                )
    if a.recommendations:
        lines += ["", "### Advice"]
        for rec in a.recommendations:
            dose = f" Dose: {rec.dose_text}." if rec.dose_text else ""
            back = f" Come back if {_md(rec.return_if)}" if rec.return_if else ""
            lines.append(f"1. {_md(rec.text)}{dose}{back} *({refs.cite(rec.sources) or 'no source'})*")
    if a.withheld_recommendations:
        lines += ["", "### Advice held back"]
        lines += [f"- {_md(w.text)} Why: {_md(w.reason)}" for w in a.withheld_recommendations]
    if refs.sources:
        lines += ["", "### Sources"]
        lines += [f"- [{n}] {_md(citation)}" + (f" <{url}>" if url else "") for n, citation, url in refs.entries()]
    return "\n".join(lines)


def _cited(numbers: str) -> str:
    return f" *({numbers})*" if numbers else ""


def _screen_section(a: Assessment) -> list[str]:
    """The unanswered red-flag questions, as the text rendering words them, for the top of the detail."""
    shown = screen_lines(a)
    if not shown:
        return []
    asked = {q.id: q.question for q in a.red_flag_screen.questions}
    items = [f"- {_md(asked.get(q, q))} (`{q}`)" for q in a.red_flag_screen.unanswered]
    return [f"**{_md(shown[0])}**", *items, ""]


def _names(ids: Iterable[str]) -> str:
    return ", ".join(f"`{name}`" for name in ids)


def _md(text: str) -> str:
    # rule text is plain prose; keep it from turning into markdown markup by accident
    return text.replace("*", "\\*").replace("`", "\\`")


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _code(name: str) -> str:
    return f"`{name}`"
