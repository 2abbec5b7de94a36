"""Assessment as readable text: the level first, then red flags and reasons, then advice.

Three lengths (``detail``): ``brief`` (level, reasons, questions to ask, advice), ``default``
(one screen: adds the conditions with what they rest on, scores, findings nobody used and
the numbered references) and ``full`` (adds every rationale, rule ids, each rule that fired
and the citations in full). Every length keeps the safety content: the level first, an
incomplete assessment, the red flags, the unanswered red-flag questions and advice held back.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from calfrules.engine.assessment import Assessment, LevelReason, Reason, RecommendationResult, TraceStep
from calfrules.formats.labels import Labels, gist, now_and_later, short_name
from calfrules.formats.references import References, number_references
from calfrules.rules.levels import Level
from calfrules.rules.model import Source
from calfrules.rules.vocabulary import Value, Vocabulary

Detail = Literal["brief", "default", "full"]
DETAILS: tuple[Detail, ...] = ("brief", "default", "full")
WIDTH = 100  # the screen a physiotherapist reads it on

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
_MISSING_NAMED = 5  # more unrecorded findings than this are counted, not named, on one screen
# level reasons that stand for a red flag; the red-flag section shows those
_RED_FLAG_SOURCES = ("floor ", "condition ")


def describe_facts(
    matched: Mapping[str, object], unrecorded: Iterable[str] = (), quote: Callable[[str], str] = str
) -> str:
    """Facts by id, as recorded, for readers who work with ids (the rule explanation tree, FHIR
    notes): a no reads "name: no"; unrecorded findings are named apart. ``quote`` marks up each id."""
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


@dataclass(frozen=True)
class Paragraph:
    """One paragraph: wrapped to the width with ``hang`` spaces before every line after the first."""

    text: str
    style: str = ""
    indent: int = 0
    hang: int = 0

    def lines(self, width: int | None) -> list[tuple[str, str]]:
        first = " " * self.indent
        if width is None or not self.text:
            return [(first + self.text if self.text else "", self.style)]
        wrapped = textwrap.wrap(
            self.text,
            width,
            initial_indent=first,
            subsequent_indent=" " * (self.indent + self.hang),
            break_long_words=False,
            break_on_hyphens=False,
        )
        return [(line, self.style) for line in wrapped]


def render_lines(
    a: Assessment, vocabulary: Vocabulary | None = None, *, detail: Detail = "default", width: int | None = WIDTH
) -> list[tuple[str, str]]:
    """(text, rich style) lines, wrapped to ``width`` (None: one line per paragraph)."""
    if detail not in DETAILS:
        raise ValueError(f"detail must be one of {', '.join(DETAILS)}, not {detail!r}")
    writer = _Writer(a, Labels(a, vocabulary), number_references(a), detail, width)
    return [line for paragraph in writer.paragraphs() for line in paragraph.lines(width)]


def render_text(
    a: Assessment, vocabulary: Vocabulary | None = None, *, detail: Detail = "default", width: int | None = WIDTH
) -> str:
    return "\n".join(text for text, _ in render_lines(a, vocabulary, detail=detail, width=width))


class _Writer:
    def __init__(
        self, a: Assessment, labels: Labels, references: References, detail: Detail, width: int | None
    ) -> None:
        self.a = a
        self.width = width
        self.labels = labels
        self.refs = references
        self.detail = detail
        self.full = detail == "full"
        self.producers: dict[str, list[TraceStep]] = {}
        for step in a.trace:
            for name in step.derived:
                self.producers.setdefault(name, []).append(step)
        self.asked = set(a.red_flag_screen.unanswered) if screen_lines(a) else set()
        # a rationale shown under "Why this level" is not written again under its condition
        self.condition_of = {
            because.rationale: condition.label for condition in a.conditions for because in condition.because
        }

    def cite(self, sources: Iterable[Source]) -> str:
        if self.detail == "brief":
            return ""
        cited = self.refs.cite(sources)
        return f" {cited}" if cited else ""

    def paragraphs(self) -> Iterator[Paragraph]:
        a = self.a
        yield Paragraph(f"LEVEL: {a.level.label.upper()} ({a.level.value}). {a.level.meaning}", _STYLE[a.level], 0, 2)
        if not a.complete:
            yield Paragraph("INCOMPLETE ASSESSMENT - the level was raised to be safe:", "bold red")
            yield from (Paragraph(f"- {problem}", "red", 2, 2) for problem in a.incomplete_reasons)
        yield from self.screen()
        # the reasons as one block: red flags, why this level, scores and the conditions
        yield from self.red_flags()
        yield from self.level_reasons()
        if self.detail != "brief":
            yield from self.scores()
            yield from self.conditions()
        yield from self.advice()
        if self.detail != "brief":
            yield from self.loose_ends()
        if self.full:
            yield from self.trace()
        if self.detail != "brief":
            yield from self.references()

    def screen(self) -> Iterator[Paragraph]:
        questions = screen_lines(self.a)
        if not questions:
            return
        yield Paragraph("")
        yield Paragraph(questions[0], "bold yellow")
        unanswered = self.a.red_flag_screen.unanswered
        if self.full:
            yield from (Paragraph(f"? {question}", "yellow", 2, 2) for question in questions[1:])
        else:  # the labels on wrapped lines: the whole screen stays near the top
            yield Paragraph("; ".join(self.labels.name(q) for q in unanswered), "yellow", 2)

    def red_flags(self) -> Iterator[Paragraph]:
        if not self.a.red_flags:
            return
        yield from self._gap()
        # one heading when the level has other reasons too: they follow the flags, under it
        yield Paragraph("Red flags (!) and why this level" if self._other_reasons() else "Red flags", "bold red")
        for flag in self.a.red_flags:
            because = f" ({self.labels.facts(flag.matched)})" if flag.matched else ""
            where = f" [{flag.origin} {flag.id}]" if self.full else ""
            text = f"! {flag.label}: {flag.level.label.lower()}{because}{self.cite(flag.sources)}{where}"
            yield Paragraph(text, "red", 2, 2)

    def level_reasons(self) -> Iterator[Paragraph]:
        reasons = self._other_reasons()
        if not reasons:
            return
        if not self.a.red_flags:
            yield from self._gap()
            yield Paragraph("Why this level", "bold")
        for reason in reasons:
            yield Paragraph(self._level_reason(reason), "", 2, 4)

    def _other_reasons(self) -> list[LevelReason]:
        return [r for r in self.a.level_reasons if not r.source.startswith(_RED_FLAG_SOURCES)]

    def _gap(self) -> Iterator[Paragraph]:
        """A blank line between the parts of the reasons: in the full view only (one screen otherwise)."""
        if self.full:
            yield Paragraph("")

    def _level_reason(self, reason: LevelReason) -> str:
        condition = self.condition_of.get(reason.reason)
        head = f"{condition}: " if condition else ""
        cited = ""
        if condition:
            sources = [
                s
                for c in self.a.conditions
                for because in c.because
                if because.rationale == reason.reason
                for s in because.sources
            ]
            cited = self.cite(sources)
        where = f" ({reason.source})" if self.full else ""
        why = reason.reason if self.full else gist(reason.reason)
        if self.detail == "brief" and condition:  # the condition names the reason; what it rests on is for longer views
            return f"[{reason.level.label.lower()}] {condition}"
        return f"[{reason.level.label.lower()}] {head}{why}{cited}{where}"

    def scores(self) -> Iterator[Paragraph]:
        if not self.a.scores:
            return
        yield from self._gap()
        yield Paragraph("Scores", "bold")
        for score in self.a.scores:
            points = ", ".join(f"{self.labels.name(k)} {v:+g}" for k, v in score.components.items())
            yield Paragraph(f"{score.label}: {score.value:g}. {score.interpretation}", "", 2, 4)
            if points:
                yield Paragraph(f"points: {points}", "", 4, 2)
            if score.unrecorded:
                yield Paragraph(f"not recorded: {self.labels.names(score.unrecorded)}", "yellow", 4, 2)

    def conditions(self) -> Iterator[Paragraph]:
        yield from self._gap()
        yield Paragraph("Conditions considered", "bold")
        if not self.a.conditions:
            yield Paragraph("none concluded", "dim", 2)
        shown_above = {r.reason for r in self.a.level_reasons}
        for condition in self.a.conditions:
            marker = " (red flag)" if condition.red_flag else ""
            if self.full:
                yield Paragraph(f"* {condition.label}{marker}", "bold", 2, 2)
                for because in condition.because:
                    yield Paragraph(self._because(condition.id, because, shown_above), "", 6, 2)
                continue
            # one paragraph: everything it rests on, once, and where its reason is
            matched: dict[str, Value] = {}
            unrecorded: dict[str, None] = {}
            for because in condition.because:
                self._behind(because.matched, because.unrecorded, matched, unrecorded, {condition.id})
            missing = [n for n in unrecorded if n not in matched]
            # a finding the red-flag questions above already ask for is counted, not named again
            asked = [n for n in missing if n in self.asked]
            others = [n for n in missing if n not in self.asked]
            facts = self.labels.facts(matched, others if len(others) <= _MISSING_NAMED else ())
            if len(others) > _MISSING_NAMED:
                facts += f"; and {len(others)} findings it needs to be not yes were not recorded"
            if asked:
                facts += f"; and {len(asked)} of the questions above"
            # what the reason above already cites is not cited again
            cited = self.cite(s for b in condition.because if b.rationale not in shown_above for s in b.sources)
            yield Paragraph(f"* {condition.label}{marker}: {facts}{cited}", "", 2, 4)

    def _behind(
        self,
        facts: Mapping[str, Value],
        missing: Iterable[str],
        matched: dict[str, Value],
        unrecorded: dict[str, None],
        seen: set[str],
    ) -> None:
        """The recorded findings behind some facts: a derived fact is replaced by what the rules
        that derived it matched (its name is internal; its reasons are not)."""
        unrecorded.update(dict.fromkeys(missing))
        for name, value in facts.items():
            if name in seen:
                continue
            seen.add(name)
            steps = [] if self.labels.is_finding(name) or name in self.labels.others else self.producers.get(name, [])
            if not steps:
                matched.setdefault(name, value)
            for step in steps:
                self._behind(step.matched, step.unrecorded, matched, unrecorded, seen)

    def _because(self, condition_id: str, because: Reason, shown_above: set[str]) -> str:
        matched = {k: v for k, v in because.matched.items() if k != condition_id}
        facts = self.labels.facts(matched, because.unrecorded)
        text = f"because {facts}{self.cite(because.sources)}"
        if because.rationale in shown_above:
            text += "; why: see Why this level"
        elif self.full:
            text += f". {because.rationale}"
        if self.full:
            text += f" (rule {because.rule.rule}, {because.rule.ruleset})"
        return text

    def advice(self) -> Iterator[Paragraph]:
        a = self.a
        if a.recommendations:
            if self.full:  # one screen otherwise: the heading alone starts the advice
                yield Paragraph("")
            yield Paragraph("Advice (most important first)", "bold")
            if self.full:
                for kind, recs in _grouped(a.recommendations):
                    yield Paragraph(KIND_TITLES[kind], "bold", 2)
                    for rec in recs:
                        yield Paragraph(f"- {self._advice_text(rec)} (rule {rec.rule.rule})", "", 4, 2)
                        if rec.return_if:
                            yield Paragraph(f"Come back if: {rec.return_if}", "dim", 6, 2)
            else:
                yield from self._advice_now_and_later()
        if a.withheld_recommendations:
            yield Paragraph("")
            yield Paragraph("Advice held back (not given at this level)", "bold")
            for held in a.withheld_recommendations:  # by name on one screen, whole in --full
                yield Paragraph(f"- {held.text if self.full else short_name(held.text)} ({held.reason})", "dim", 4, 2)

    def _advice_text(self, rec: RecommendationResult) -> str:
        dose = f" [{rec.dose_text}]" if rec.dose_text else ""
        return f"{rec.text}{dose}{self.cite(rec.sources)}"

    def _advice_now_and_later(self) -> Iterator[Paragraph]:
        """What to do now in full, each with when to come back (a safety net said once even when
        several items give it); the later stages by name on one paragraph, whole in --full."""
        now, later = now_and_later(self.a.recommendations, self.a.level)
        said: set[str] = set()
        for rec in now:
            back = ""
            if rec.return_if and rec.return_if not in said:
                said.add(rec.return_if)
                back = f" Come back if: {rec.return_if}"
            yield Paragraph(f"- {KIND_TITLES[rec.kind]}: {self._advice_text(rec)}{back}", "", 2, 2)
        if later and self.detail != "brief":
            named = "; ".join(short_name(rec.text) for rec in later)
            cited = self.cite(s for rec in later for s in rec.sources)
            yield Paragraph(f"- Later{cited} (whole in --full): {named}", "", 2, 2)

    def loose_ends(self) -> Iterator[Paragraph]:
        a = self.a
        if a.unexplained_findings or a.unused_findings or a.warnings:
            yield from self._gap()
        if a.unexplained_findings:
            yield Paragraph("Not explained by any condition: " + self.labels.names(a.unexplained_findings), "yellow")
        if a.unused_findings:
            recorded = {name: a.findings[name] for name in a.unused_findings if name in a.findings}
            yield Paragraph("Recorded, not used by any rule or score: " + self.labels.facts(recorded), "dim", 0, 2)
        if a.warnings:
            yield Paragraph("Warnings while loading", "yellow")
            yield from (Paragraph(f"- {warning}", "yellow", 2, 2) for warning in a.warnings)

    def trace(self) -> Iterator[Paragraph]:
        if not self.a.trace:
            return
        yield Paragraph("")
        yield Paragraph(f"Rules fired ({len(self.a.trace)})", "bold")
        for step in self.a.trace:
            did = [f"concluded {self.labels.name(step.concluded)}"] if step.concluded else []
            did += [f"derived {self.labels.names(step.derived)}"] if step.derived else []
            did += [f"raised to {step.escalated.label.lower()}"] if step.escalated else []
            facts = self.labels.facts(step.matched, step.unrecorded)
            rule = f"{step.rule.rule} ({step.rule.ruleset})"
            yield Paragraph(f"{step.step}. {rule}: {'; '.join(did) or 'advice'}, from {facts}", "dim", 2, 3)

    def references(self) -> Iterator[Paragraph]:
        if not self.refs.sources:
            return
        if self.full:
            yield Paragraph("")
            yield Paragraph("References", "bold")
            for number, citation, url in self.refs.entries():
                head = f"[{number}] "
                yield Paragraph(f"{head}{citation}{f' {url}' if url else ''}", "dim", 2, len(head))
            return
        # short labels several to a line, none parted from its number (textwrap never breaks at \xa0)
        glued = " · ".join(entry.replace("] ", "]\xa0", 1) for entry in self.refs.labelled())
        for line, style in Paragraph(f"References (whole: --full): {glued}", "dim", 0, 2).lines(self.width):
            yield Paragraph(line.replace("\xa0", " "), style)


def _grouped(recs: Iterable[RecommendationResult]) -> list[tuple[str, list[RecommendationResult]]]:
    groups: dict[str, list[RecommendationResult]] = {}
    for rec in recs:
        groups.setdefault(rec.kind, []).append(rec)
    return list(groups.items())
