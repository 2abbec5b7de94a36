"""The two-level Wells score for deep vein thrombosis, computed from the findings.

Criteria and points: the two-level DVT Wells score as tabled in NICE NG158 (2020);
2 or more = DVT likely.
"""

from __future__ import annotations

from collections.abc import Mapping

from calfrules.knowledge.derivers import Deriver, Score
from calfrules.rules.vocabulary import Value

# One point each (NICE NG158, two-level DVT Wells score).
ONE_POINT: tuple[str, ...] = (
    "active_cancer",
    "leg_immobilised",  # paralysis, paresis or recent plaster
    "deep_vein_tenderness",
    "entire_leg_swollen",
    "pitting_oedema",
    "collateral_superficial_veins",
    "previous_dvt",
)
# Wells counts "bedridden 3 days or more, or major surgery within 12 weeks" as ONE item:
# both together still score a single point, or the score would overstate the risk.
ONE_POINT_FOR_EITHER: tuple[str, ...] = ("bedridden_recently", "recent_surgery")
CALF_DIFF = "calf_circumference_diff_cm"
CALF_DIFF_CM = 3.0  # calf 3 cm or more larger than the other side scores a point
ALTERNATIVE = "alternative_diagnosis_likely"  # a clinician's judgement; subtracts 2
ALTERNATIVE_POINTS = -2
LIKELY_THRESHOLD = 2

INPUTS: tuple[str, ...] = (*ONE_POINT, *ONE_POINT_FOR_EITHER, CALF_DIFF, ALTERNATIVE)
_INPUT_SET = frozenset(INPUTS)


# Wells scores a suspected DVT: a leg symptom or sign must be recorded first (NICE NG158 1.1.1:
# assess anyone with signs or symptoms of DVT), so clot risk factors alone make no score.
LEG_FINDINGS: tuple[str, ...] = (
    "calf_pain",
    "calf_tightness",
    "swelling",
    "swelling_unilateral",
    "entire_leg_swollen",
    "swelling_behind_knee",
    "calf_warmth",
    "skin_redness",
    "deep_vein_tenderness",
    "pitting_oedema",
    "collateral_superficial_veins",
)
_LEG_SET = frozenset(LEG_FINDINGS)


def wells_score(findings: Mapping[str, Value]) -> Score | None:
    """Score every Wells item the case records, once the leg has a symptom or sign.

    None when no leg symptom or sign is recorded (there is no suspected DVT to score),
    or when none of the Wells items is recorded. A case that answers the Wells
    questions with "no" still gets a score (0), so a clinician can see the score was
    computed and came out low, rather than missing.
    """
    if _INPUT_SET.isdisjoint(findings):  # no Wells item recorded (most cases): the quickest test first
        return None
    if CALF_DIFF not in findings:
        for name in _LEG_SET.intersection(findings):  # the few recorded (this runs on every case)
            if findings[name] is True:
                break
        else:
            return None
    # Components are keyed by finding id so the engine (and a clinician) can trace each point.
    components: dict[str, float] = {name: 1 for name in ONE_POINT if findings.get(name) is True}
    either = [name for name in ONE_POINT_FOR_EITHER if findings.get(name) is True]
    if either:
        components[either[0]] = 1
        for name in either[1:]:
            components[name] = 0  # recorded, but already counted under the same Wells item
    diff = findings.get(CALF_DIFF)
    if isinstance(diff, (int, float)) and not isinstance(diff, bool) and diff >= CALF_DIFF_CM:
        components[CALF_DIFF] = 1
    if findings.get(ALTERNATIVE) is True:
        components[ALTERNATIVE] = ALTERNATIVE_POINTS
    total = sum(components.values())
    note = " (bed rest and surgery count once)" if len(either) > 1 else ""
    return Score(total, components, _interpretation(findings, total) + note)


def _interpretation(findings: Mapping[str, Value], total: float) -> str:
    """The verdict, honest about items nobody recorded: a low score may only mean "not asked"."""
    if total >= LIKELY_THRESHOLD:
        return f"DVT likely: two-level Wells score {total:g}; 2 or more means likely"
    missing = [name for name in INPUTS if name not in findings and name != ALTERNATIVE]
    if not missing:
        return f"DVT unlikely: two-level Wells score {total:g}; 2 or more means likely"
    could_reach = (
        total + len(set(missing) - set(ONE_POINT_FOR_EITHER)) + (1 if set(ONE_POINT_FOR_EITHER) <= set(missing) else 0)
    )
    if could_reach < LIKELY_THRESHOLD:
        return (
            f"DVT unlikely: two-level Wells score {total:g} on the items recorded; even the "
            f"{len(missing)} not recorded could not make it 2"
        )
    return (
        f"not complete: {total:g} from the items recorded, and {len(missing)} Wells items were not "
        "recorded; the score cannot say DVT is unlikely until they are asked"
    )


def wells_deriver() -> Deriver:
    return Deriver(
        id="wells_score",
        label="Wells score (DVT)",
        inputs=INPUTS,
        compute=wells_score,
        references=("NICE NG158 (2020), table 1: two-level DVT Wells score - https://www.nice.org.uk/guidance/ng158",),
        description=(
            "Two-level Wells score for deep vein thrombosis: one point each for active cancer, "
            "a paralysed, weak or recently plastered leg, bed rest of 3 days or more or major surgery "
            "within 12 weeks (one point for either or both), tenderness along the deep veins, a whole "
            "leg swollen, a calf 3 cm or more larger than the other, pitting oedema in the painful leg "
            "only, new non-varicose surface veins and a previous DVT; minus 2 when another diagnosis is "
            "at least as likely. A score of 2 or more means DVT is likely."
        ),
    )
