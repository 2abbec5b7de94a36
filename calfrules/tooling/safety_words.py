"""The safety gate's counter-examples in plain words: findings by their labels, never JSON."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from calfrules.rules.vocabulary import Value, Vocabulary

Violation = dict[str, Any]


def describe_findings(findings: Mapping[str, Value], vocabulary: Vocabulary) -> str:
    """Findings in plain words, by their labels: ``fever and red skin``."""
    words = [_describe(name, value, vocabulary) for name, value in sorted(findings.items())]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _describe(name: str, value: Value, vocabulary: Vocabulary) -> str:
    label = _plain(vocabulary[name].label) if name in vocabulary else name.replace("_", " ")
    if value is True:
        return label
    if value is False:
        return f"{label} recorded as no"
    if isinstance(value, float):
        unit = vocabulary[name].unit if name in vocabulary else None
        return f"{label} {value:g}{' ' + unit if unit else ''}"
    return f"{label} '{value}'"


def _plain(label: str) -> str:
    """Lower-case a label's first letter, unless it starts an abbreviation (``DVT``)."""
    if len(label) > 1 and label[1].isupper():
        return label
    return label[:1].lower() + label[1:]


def refusal_lines(violation: Violation, vocabulary: Vocabulary) -> list[str]:
    """A counter-example for a physiotherapist: the red flag by its label, the level without and
    with the addition side by side, and the findings one per line (label: value), not JSON."""
    added = violation["added"]
    if violation["property"] == "recorded_no":
        (name,) = added
        lines = [
            f"Recording '{_label(name, vocabulary)}' as no, instead of leaving it unrecorded, lowers the level.",
            f"Level while not recorded: {violation['before']}   |   Level with it recorded as no: {violation['after']}",
        ]
    else:
        flags = [f"'{flag['label']}' ({flag['level']})" for flag in violation["raised"]]
        lines = [
            f"Red flag raised: {' and '.join(flags)}",
            f"Level without it: {violation['before']}   |   Level with it: {violation['after']}",
        ]
    lines.append("The case:")
    lines += [f"  - {line}" for line in findings_in_words(violation["case"]["findings"], vocabulary)]
    lines.append("Then adding:" if violation["property"] == "monotonic" else "Then recording:")
    lines += [f"  - {line}" for line in findings_in_words(added, vocabulary)]
    if violation["rules_lost"]:
        lines.append(f"Rules that stop firing: {', '.join(violation['rules_lost'])}")
    return lines


def findings_in_words(findings: Mapping[str, Value], vocabulary: Vocabulary) -> list[str]:
    """``Calf pain: yes``, ``Pain score: 7``: one line per finding, by its label."""
    return [
        f"{_label(name, vocabulary)}: {_value_words(name, value, vocabulary)}"
        for name, value in sorted(findings.items())
    ]


def _label(name: str, vocabulary: Vocabulary) -> str:
    return vocabulary[name].label if name in vocabulary else name.replace("_", " ")


def _value_words(name: str, value: Value, vocabulary: Vocabulary) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, float):
        unit = vocabulary[name].unit if name in vocabulary else None
        return f"{value:g}{' ' + unit if unit else ''}"
    return str(value)
