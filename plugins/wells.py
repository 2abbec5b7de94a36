"""The two-level Wells score for deep vein thrombosis, computed from the findings."""

from __future__ import annotations

from collections.abc import Mapping

from calfrules import Deriver, Score
from calfrules.vocabulary import Value

# finding id -> points (clinical-references.md: Wells criteria, +1 each; alternative -2)
WELLS_POINTS: dict[str, int] = {
    "swelling_unilateral": 0,  # placeholder until the red-flags knowledge lands
}
LIKELY_THRESHOLD = 2


def wells_score(findings: Mapping[str, Value]) -> Score | None:
    components: dict[str, float] = {}
    for finding, points in WELLS_POINTS.items():
        if findings.get(finding) is True:
            components[finding] = points
    diff = findings.get("calf_circumference_diff_cm")
    if isinstance(diff, float) and diff >= 3:
        components["calf_circumference_diff_cm"] = 1
    if not components:
        return None
    total = sum(components.values())
    verdict = "DVT likely" if total >= LIKELY_THRESHOLD else "DVT unlikely"
    return Score(total, components, f"{verdict} (two-level Wells score {total:g}; likely at 2 or more)")


def wells_deriver() -> Deriver:
    return Deriver(
        id="wells_score",
        label="Wells score (DVT)",
        inputs=(*WELLS_POINTS, "calf_circumference_diff_cm"),
        compute=wells_score,
    )
