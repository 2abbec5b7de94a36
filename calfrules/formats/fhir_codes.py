"""What FHIR values mean as findings: codes, yes/no answers, units (shared by FHIR in and out)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from calfrules.rules.errors import CalfrulesError, CaseError
from calfrules.rules.vocabulary import Finding, Value, shown

UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
V2_YES_NO = "http://terminology.hl7.org/CodeSystem/v2-0136"
# Coded yes/no answers an EHR sends for a yes/no finding.
YES_NO_CODES: dict[tuple[str, str], bool] = {
    (V2_YES_NO, "Y"): True,
    (V2_YES_NO, "N"): False,
    (SNOMED, "373066001"): True,  # Yes (qualifier value)
    (SNOMED, "373067005"): False,  # No (qualifier value)
    (SNOMED, "52101004"): True,  # Present (qualifier value)
    (SNOMED, "2667000"): False,  # Absent (qualifier value)
}


class FhirInputError(CalfrulesError):
    """A FHIR resource cannot be read: says which resource, which field, what to fix."""


def choice_system(finding_id: str) -> str:
    """The code system of a choice finding's answers: the choice is the code."""
    return f"urn:calfrules:finding:{finding_id}"


def _same(value: float) -> float:
    return value


# Per vocabulary unit: the UCUM codes accepted, each with its conversion; the first is the one
# the Questionnaire names. Only conversions that are exact by definition.
UNITS: dict[str, dict[str, Callable[[float], float]]] = {
    "°C": {"Cel": _same, "[degF]": lambda f: (f - 32) * 5 / 9},
    "beats per minute": {"/min": _same, "{beats}/min": _same, "{beat}/min": _same},
    "breaths per minute": {"/min": _same, "{breaths}/min": _same, "{breath}/min": _same},
    "mmHg": {"mm[Hg]": _same},
    "%": {"%": _same},
    "years": {"a": _same},
    "days": {"d": _same, "wk": lambda w: w * 7, "h": lambda h: h / 24},
    "hours": {"h": _same, "d": lambda d: d * 24, "min": lambda m: m / 60},
    "minutes": {"min": _same, "h": lambda h: h * 60, "s": lambda s: s / 60},
    "cm": {"cm": _same, "mm": lambda mm: mm / 10},
    "points": {"{score}": _same, "1": _same},
    "reps": {"{reps}": _same, "1": _same},
}
DIMENSIONLESS = frozenset({"points", "reps"})


def ucum_code(unit: str | None) -> str | None:
    """The UCUM code a Questionnaire names for a vocabulary unit, if one is known."""
    return next(iter(UNITS[unit]), None) if unit in UNITS else None


def coding_text(coding: Mapping[str, Any]) -> str:
    """``system|code (display)``, as unknown codes are listed."""
    display = f" ({coding['display']})" if isinstance(coding.get("display"), str) else ""
    return f"{coding.get('system', '')}|{coding.get('code', '')}{display}"


def quantity_value(quantity: object, finding: Finding, where: str) -> float:
    """A Quantity in the finding's unit, converted where the conversion is exact; else FhirInputError."""
    if not isinstance(quantity, Mapping) or "value" not in quantity:
        raise FhirInputError(f"{where}: a Quantity needs a 'value' (got {shown(quantity)})")
    number = quantity["value"]
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        raise FhirInputError(f"{where}: Quantity.value must be a number, got {shown(number)}")
    if quantity.get("comparator") is not None:
        raise FhirInputError(
            f"{where}: a value with a comparator ({quantity['comparator']}) is not exact; send the value"
        )
    accepted = UNITS.get(finding.unit or "", {})
    code, unit, system = quantity.get("code"), quantity.get("unit"), quantity.get("system")
    if code is not None and system not in (None, UCUM):
        raise FhirInputError(f"{where}: unit system {system!r} is not UCUM ({UCUM}); send {_wanted(finding)}")
    for given in (code, unit):
        if isinstance(given, str) and given in accepted:
            return accepted[given](float(number))
    if isinstance(unit, str) and code is None and unit == finding.unit:  # the vocabulary's own words
        return float(number)
    if code is None and unit is None and (finding.unit is None or finding.unit in DIMENSIONLESS):
        return float(number)
    got = code if code is not None else unit
    raise FhirInputError(
        f"{where}: unit {shown(got)} does not fit {finding.id} ({finding.unit}); send {_wanted(finding)}"
    )


def _wanted(finding: Finding) -> str:
    codes = list(UNITS.get(finding.unit or "", {}))
    return f"UCUM {' or '.join(codes)}" if codes else f"a value in {finding.unit}"


def checked(finding: Finding, value: object, where: str) -> Value:
    """The value as the finding accepts it, or FhirInputError naming the resource."""
    try:
        return finding.check(value)
    except CaseError as exc:
        raise FhirInputError(f"{where}: {exc}") from None


def coded_value(coding: Mapping[str, Any], finding: Finding, where: str) -> Value | None:
    """The value a Coding answers for the finding (yes/no, or one of its choices), or None if it is not one."""
    key = (coding.get("system"), coding.get("code"))
    if finding.type == "bool":
        return YES_NO_CODES.get(key)  # type: ignore[arg-type]
    if finding.type == "choice" and key[0] == choice_system(finding.id):
        return checked(finding, key[1], where)
    return None
