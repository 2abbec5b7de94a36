"""The assessment as the case tester shows it: the result text and the explanation tree."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from calfrules.engine.assessment import Assessment, TraceStep
from calfrules.formats.text import describe_facts, render_lines, screen_lines
from calfrules.rules.vocabulary import Value, Vocabulary


def assessment_text(assessment: Assessment, vocabulary: Vocabulary | None = None) -> Text:
    """The one-screen text (as `calfrules assess` prints it); the pane wraps it to its own width."""
    text = Text()
    for line, style in render_lines(assessment, vocabulary, width=None):
        text.append(line + "\n", style=style or "")
    return text


def fill_explanation(tree: Tree[str], assessment: Assessment) -> None:
    """Unanswered red-flag questions, the level's reasons, red flags at the level they applied,
    scores, then each condition with the rule that concluded it, what was recorded for it and
    the rules that derived the facts it used (which rule fired because of which findings).

    Labels are plain text (``Text``), never markup: "[urgent]" and "[chest_pain]" must show.
    """
    tree.clear()
    root = tree.root
    root.set_label(Text(f"{assessment.level.label.upper()} ({assessment.level.value})"))
    questions = screen_lines(assessment)
    if questions:  # unanswered red-flag questions first: an answer can change everything below
        ask = root.add(Text(questions[0], style="bold yellow"), expand=True)
        for line in questions[1:]:
            ask.add_leaf(Text(f"? {line}"))
    reasons = root.add("Why this level", expand=True)
    for reason in assessment.level_reasons:
        reasons.add_leaf(Text(f"[{reason.level.value}] {reason.reason} ({reason.source})"))
    if not assessment.level_reasons:
        reasons.add_leaf("nothing raised it: self_care is the starting level")
    if assessment.red_flags:
        flags = root.add("Red flags", expand=True)
        for flag in assessment.red_flags:
            node = flags.add(Text(f"{flag.label}: {flag.level.value}"), expand=True)
            for name, value in flag.matched.items():
                node.add_leaf(Text(describe_facts({name: value})))
    if assessment.scores:
        scores = root.add("Scores", expand=True)
        for score in assessment.scores:
            node = scores.add(Text(f"{score.label}: {score.value:g}. {score.interpretation}"))
            for name, points in score.components.items():
                node.add_leaf(Text(f"{name} {points:+g}"))
            if score.unrecorded:
                node.add_leaf(Text(f"not recorded: {', '.join(score.unrecorded)}", style="yellow"))
    producers: dict[str, TraceStep] = {}
    for fired in assessment.trace:
        for output in (fired.concluded, *fired.derived):
            if output:
                producers.setdefault(output, fired)
    conditions = root.add("Conditions", expand=True)
    for found in assessment.conditions:
        node = conditions.add(Text(f"{found.label} ({found.id})"), expand=True)
        for because in found.because:
            concluding = next((s for s in assessment.trace if s.rule == because.rule), None)
            rule_node = node.add(Text(f"because rule {because.rule.rule} ({because.rule.ruleset})"), expand=True)
            seen = {concluding.step} if concluding else set()
            _add_matched(rule_node, because.matched, because.unrecorded, producers, seen)
    if not assessment.conditions:
        conditions.add_leaf("no condition concluded")
    trace = root.add(f"Rules fired ({len(assessment.trace)})")
    for step in assessment.trace:
        did = [f"concluded {step.concluded}"] if step.concluded else []
        did += [f"derived {', '.join(step.derived)}"] if step.derived else []
        did += [f"escalated to {step.escalated.value}"] if step.escalated else []
        node = trace.add(Text(f"{step.step}. {step.rule.rule} ({step.rule.ruleset}): {'; '.join(did) or 'advice'}"))
        _add_matched(node, step.matched, step.unrecorded, producers, {step.step})
    root.expand()


def _add_matched(
    node: TreeNode[str],
    matched: Mapping[str, Value],
    unrecorded: Iterable[str],
    producers: Mapping[str, TraceStep],
    seen: set[int],
) -> None:
    """What a rule matched, as recorded ("night_pain: no"), each derived fact with the rule behind
    it, then the findings it needed "not yes" that nobody recorded, apart (never as a no)."""
    for name, value in matched.items():
        step = producers.get(name)
        if step is None or step.step in seen:
            node.add_leaf(Text(describe_facts({name: value})))
            continue
        child = node.add(Text(f"{name} ← rule {step.rule.rule} ({step.rule.ruleset})"), expand=True)
        _add_matched(child, step.matched, step.unrecorded, producers, seen | {step.step})
    missing = list(unrecorded)
    if missing:
        node.add_leaf(Text(f"not recorded (read as not yes): {', '.join(missing)}", style="dim"))
