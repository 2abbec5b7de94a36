"""Render docs/clinical-safety/hazards.toml as the readable hazard log (hazard-log.md).

    python scripts/hazard_log.py          # rewrite hazard-log.md
    python scripts/hazard_log.py --check  # exit 1 when hazard-log.md is out of date

Risk ratings follow the DCB0129 matrix (severity x likelihood -> 1..5).
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1] / "docs" / "clinical-safety"
HAZARDS = HERE / "hazards.toml"
LOG = HERE / "hazard-log.md"

SEVERITIES = ("minor", "significant", "considerable", "major", "catastrophic")
LIKELIHOODS = ("very_low", "low", "medium", "high", "very_high")
# DCB0129 risk matrix: rows are likelihood (very low .. very high), columns severity (minor .. catastrophic).
MATRIX = (
    (1, 1, 2, 2, 3),
    (1, 2, 2, 3, 4),
    (2, 2, 3, 3, 4),
    (2, 3, 3, 4, 5),
    (3, 4, 4, 5, 5),
)


def load() -> list[dict[str, Any]]:
    with HAZARDS.open("rb") as file:
        hazards: list[dict[str, Any]] = tomllib.load(file)["hazards"]
    return hazards


def rating(severity: str, likelihood: str) -> int:
    return MATRIX[LIKELIHOODS.index(likelihood)][SEVERITIES.index(severity)]


def _words(value: str) -> str:
    return value.replace("_", " ")


def _codes(values: list[str]) -> str:
    return ", ".join(f"`{value}`" for value in values) or "none"


def render(hazards: list[dict[str, Any]]) -> str:
    lines = [
        "# Hazard log",
        "",
        "Generated from `hazards.toml` by `python scripts/hazard_log.py`; edit the TOML, not this file.",
        "Risk is rated 1 (acceptable) to 5 (unacceptable) with the DCB0129 severity x likelihood matrix.",
        "",
        "| Hazard | Title | Initial risk | Residual risk |",
        "|---|---|---|---|",
    ]
    for hazard in hazards:
        before = rating(hazard["severity"], hazard["likelihood"])
        after = rating(hazard["residual_severity"], hazard["residual_likelihood"])
        lines.append(f"| {hazard['id']} | {hazard['title']} | {before} | {after} |")
    for hazard in hazards:
        residual = rating(hazard["residual_severity"], hazard["residual_likelihood"])
        lines += [
            "",
            f"## {hazard['id']}: {hazard['title']}",
            "",
            f"- **Cause:** {hazard['cause']}",
            f"- **Effect:** {hazard['effect']}",
            f"- **Initial risk:** severity {_words(hazard['severity'])}, likelihood {_words(hazard['likelihood'])}"
            f" -> {rating(hazard['severity'], hazard['likelihood'])}",
            f"- **Controls (floor entries):** {_codes(hazard['floor'])}",
            f"- **Controls (red-flag conditions):** {_codes(hazard['conditions'])}",
            f"- **Controls (rules):** {_codes(hazard.get('rules', []))}",
            f"- **Verified by:** {_codes(hazard['tests'])}",
            f"- **Residual risk:** severity {_words(hazard['residual_severity'])}, likelihood"
            f" {_words(hazard['residual_likelihood'])} -> {residual}."
            f" {hazard['residual']}",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    text = render(load())
    if "--check" in argv:
        if LOG.read_text(encoding="utf-8") != text:
            print("hazard-log.md is out of date: run python scripts/hazard_log.py", file=sys.stderr)
            return 1
        return 0
    LOG.write_text(text, encoding="utf-8")
    print(f"wrote {LOG}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
