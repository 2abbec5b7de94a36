"""The National Early Warning Score 2 (NEWS2), computed from the vital signs recorded.

Bands: Royal College of Physicians, National Early Warning Score (NEWS) 2, chart 1 (2017),
with SpO2 scale 1 (scale 2 is for hypercapnic respiratory failure, which a running injury
clinic does not judge). A total of 5 or more, or 3 in any one parameter, asks for an urgent
response; 7 or more for an emergency response.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping

from calfrules.knowledge.derivers import Deriver, Score
from calfrules.rules.vocabulary import Value

RESPIRATORY_RATE = "respiratory_rate"
OXYGEN_SATURATION = "oxygen_saturation_pct"
SUPPLEMENTAL_OXYGEN = "supplemental_oxygen"
SYSTOLIC_BP = "systolic_bp"
HEART_RATE = "heart_rate"
CONSCIOUSNESS = "consciousness"
TEMPERATURE = "temperature_c"

# Chart 1 as (highest value in the row, points), lowest row first; values are in chart units
# scaled to whole numbers (temperature in tenths of a degree, as the chart reads it).
Bands = tuple[tuple[float, int], ...]
NUMERIC_BANDS: dict[str, tuple[int, Bands]] = {
    RESPIRATORY_RATE: (1, ((8, 3), (11, 1), (20, 0), (24, 2), (math.inf, 3))),
    OXYGEN_SATURATION: (1, ((91, 3), (93, 2), (95, 1), (math.inf, 0))),  # scale 1
    SYSTOLIC_BP: (1, ((90, 3), (100, 2), (110, 1), (219, 0), (math.inf, 3))),
    HEART_RATE: (1, ((40, 3), (50, 1), (90, 0), (110, 1), (130, 2), (math.inf, 3))),
    TEMPERATURE: (10, ((350, 3), (360, 1), (380, 0), (390, 1), (math.inf, 2))),
}
ALERT = "alert"  # ACVPU: anything else (new confusion, voice, pain, unresponsive) scores 3
NOT_ALERT_POINTS = 3
OXYGEN_POINTS = 2
URGENT_TOTAL = 5
EMERGENCY_TOTAL = 7
URGENT_SINGLE = 3

# The chart's order, which is also the order a clinician reads the components in.
INPUTS: tuple[str, ...] = (
    RESPIRATORY_RATE,
    OXYGEN_SATURATION,
    SUPPLEMENTAL_OXYGEN,
    SYSTOLIC_BP,
    HEART_RATE,
    CONSCIOUSNESS,
    TEMPERATURE,
)
# Supplemental oxygen alone is a treatment, not an observation: it does not start a score.
OBSERVATIONS: tuple[str, ...] = tuple(name for name in INPUTS if name != SUPPLEMENTAL_OXYGEN)
_OBSERVATION_SET = frozenset(OBSERVATIONS)
PLAIN_NAMES: dict[str, str] = {
    RESPIRATORY_RATE: "breathing rate",
    OXYGEN_SATURATION: "oxygen saturation",
    SUPPLEMENTAL_OXYGEN: "air or oxygen",
    SYSTOLIC_BP: "systolic blood pressure",
    HEART_RATE: "pulse",
    CONSCIOUSNESS: "consciousness",
    TEMPERATURE: "temperature",
}
REFERENCE = (
    "Royal College of Physicians. National Early Warning Score (NEWS) 2: standardising the assessment of "
    "acute-illness severity in the NHS. London: RCP, 2017 - "
    "https://www.rcp.ac.uk/improving-care/resources/national-early-warning-score-news-2/"
)


def banded(name: str, value: float) -> int:
    """Points for one number on the chart.

    The chart has whole-number rows (tenths for temperature). A value between two rows
    (a respiratory rate of 8.5) scores as the worse of them, so rounding never hides a point.
    """
    scale, bands = NUMERIC_BANDS[name]
    scaled = round(value * scale, 6)
    return max(_row(bands, math.floor(scaled)), _row(bands, math.ceil(scaled)))


def _row(bands: Bands, value: float) -> int:
    return next(points for highest, points in bands if value <= highest)


def parameter_points(findings: Mapping[str, Value]) -> dict[str, int]:
    """Points for each NEWS2 parameter the case records, in chart order."""
    return dict(_points(tuple(findings.get(name) for name in INPUTS)))


# Both NEWS2 derivers score the same vital signs of each case, and vital signs repeat
# across cases: the points are remembered by the recorded values (in INPUTS' order).
@functools.lru_cache(maxsize=1024)
def _points(values: tuple[Value | None, ...]) -> tuple[tuple[str, int], ...]:
    points: dict[str, int] = {}
    for name, value in zip(INPUTS, values, strict=True):
        if value is None:
            continue
        if name == CONSCIOUSNESS:
            points[name] = 0 if value == ALERT else NOT_ALERT_POINTS
        elif name == SUPPLEMENTAL_OXYGEN:
            points[name] = OXYGEN_POINTS if value is True else 0
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            points[name] = banded(name, float(value))
    return tuple(points.items())


def news2_score(findings: Mapping[str, Value]) -> Score | None:
    """The aggregate NEWS2 over the parameters recorded; None when no vital sign is recorded."""
    if _OBSERVATION_SET.isdisjoint(findings):  # most cases record no vital sign: the quickest test first
        return None
    total, points, interpretation = _aggregate(tuple([findings.get(name) for name in INPUTS]))
    return Score(total, dict(points), interpretation)


@functools.lru_cache(maxsize=1024)
def _aggregate(values: tuple[Value | None, ...]) -> tuple[int, tuple[tuple[str, int], ...], str]:
    """The total, the points and the words for the recorded vitals (in INPUTS' order; None: not recorded)."""
    points = dict(_points(values))
    total = sum(points.values())
    recorded = {name: value for name, value in zip(INPUTS, values, strict=True) if value is not None}
    return total, tuple(points.items()), _interpretation(recorded, total, max(points.values(), default=0))


def news2_highest_parameter(findings: Mapping[str, Value]) -> Score | None:
    """The highest single-parameter NEWS2 score (0-3), with the parameters that reach it."""
    if _OBSERVATION_SET.isdisjoint(findings):
        return None
    points = parameter_points(findings)
    highest = max(points.values(), default=0)
    top = {name: float(p) for name, p in points.items() if p == highest and highest > 0}
    if highest >= URGENT_SINGLE:
        verdict = f"{highest} in one parameter ({_names(top)}): an urgent response is needed"
    elif highest > 0:
        verdict = f"highest single parameter {highest} ({_names(top)})"
    else:
        verdict = "no parameter recorded outside its normal range"
    return Score(highest, top, verdict)  # the aggregate score already names what was not recorded


def _interpretation(findings: Mapping[str, Value], total: float, highest: int) -> str:
    # the total is shown beside the label, so the words say only what it means
    if total >= EMERGENCY_TOTAL:
        verdict = f"high clinical risk: {EMERGENCY_TOTAL} or more asks for an emergency response"
    elif total >= URGENT_TOTAL:
        verdict = f"medium clinical risk: {URGENT_TOTAL} or more asks for an urgent response"
    elif highest >= URGENT_SINGLE:
        verdict = f"{URGENT_SINGLE} in one parameter: an urgent response is needed"
    else:
        verdict = "low clinical risk"
    return verdict + _missing_note(findings)


def _missing_note(findings: Mapping[str, Value]) -> str:
    """Parameters nobody recorded were not scored as normal: the score is only a lower bound."""
    missing = [name for name in INPUTS if name not in findings]
    if not missing:
        return ""
    return f"; not recorded: {_names(missing)}, so the score is a lower bound"


def _names(names: Mapping[str, float] | list[str]) -> str:
    return ", ".join(PLAIN_NAMES[name] for name in names)


def news2_deriver() -> Deriver:
    return Deriver(
        id="news2_score",
        label="NEWS2 (early warning score)",
        inputs=INPUTS,
        compute=news2_score,
        references=(REFERENCE,),
        description=(
            "National Early Warning Score 2 (Royal College of Physicians, 2017), SpO2 scale 1: 0 to 3 points "
            "each for breathing rate, oxygen saturation, systolic blood pressure, pulse, consciousness and "
            "temperature, plus 2 when the person is on oxygen. 5 or more, or 3 in one parameter, asks for an "
            "urgent response; 7 or more for an emergency response. Parameters not recorded score nothing, so "
            "the total is then a lower bound."
        ),
    )


def news2_highest_parameter_deriver() -> Deriver:
    return Deriver(
        id="news2_highest_parameter",
        label="NEWS2 highest single parameter",
        inputs=INPUTS,
        compute=news2_highest_parameter,
        references=(REFERENCE,),
        description="The highest NEWS2 points any one vital sign scored (0 to 3); 3 asks for an urgent response.",
    )
