"""What the case tester says in words: a number out of its range, the screen still to ask, why a rule did not
fire (headless)."""

from __future__ import annotations

from calfrules.engine.assessment import RedFlagScreen
from calfrules.engine.why_not import WhyNot
from calfrules.rules.vocabulary import Finding


def number_problem(text: str, finding: Finding) -> str | None:
    """Why ``text`` is not a value of this number finding (None: it is, or it is empty)."""
    if not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        return "type a number"
    low, high = finding.minimum, finding.maximum
    if (low is not None and value < low) or (high is not None and value > high):
        return f"out of range: {finding.range_text()}"
    return None


def screen_title(screen: RedFlagScreen) -> str:
    """The heading over the red-flag questions still to ask, with how many and for which group(s)."""
    count = len(screen.unanswered)
    groups = ", ".join(g.replace("_", " ") for g in screen.groups).upper()
    return f"ASK THESE FIRST: {count} RED-FLAG QUESTION{'' if count == 1 else 'S'} NOT YET ASKED ({groups})"


def why_not_words(answer: WhyNot) -> list[str]:
    """Why a rule did (not) fire, for a physiotherapist: each way its condition can be met, nearest first."""
    if answer.error or answer.fires or not answer.alternatives:
        return answer.lines()
    ways = sorted(answer.alternatives, key=lambda alt: len(alt.missing))
    several = len(ways) > 1
    out = [
        f"rule {answer.rule_id} does not fire: "
        + ("none of the ways its condition can be met holds for this case." if several else "its condition is not met.")
    ]
    for number, way in enumerate(ways, start=1):
        if several:
            out.append(f"way {number} (lacks {len(way.missing)} of its {len(way.literals)} parts):")
        out += [f"  {'✓' if lit.met else '✗'} {lit.explain()}" for lit in way.literals]
    return out
