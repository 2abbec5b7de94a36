"""What a FHIR Patient resource says about the case: age from birthDate, sex from gender.

Both only fill findings no Observation or answer recorded: a recorded sex or age stands.
``gender`` is administrative: female and male are read as sex, other and unknown are not
recorded. A partial birthDate (year, or year and month) gives an age only when every day it
could stand for gives the same whole years; otherwise age stays not recorded, because rules
draw lines on both sides of an age (50 and over, under 40, under 25).
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import date
from typing import Any

from calfrules.formats.fhir_codes import FhirInputError
from calfrules.rules.vocabulary import Value, shown

SEX_FROM_GENDER = {"female": "female", "male": "male"}


def patient_findings(patient: Mapping[str, Any], today: date, where: str) -> dict[str, Value]:
    """The findings a Patient resource gives (``age``, ``sex``); FhirInputError for a malformed field."""
    found: dict[str, Value] = {}
    gender = patient.get("gender")
    if gender is not None:
        if not isinstance(gender, str):
            raise FhirInputError(f"{where}: Patient.gender must be a code (female, male, other, unknown)")
        if gender in SEX_FROM_GENDER:
            found["sex"] = SEX_FROM_GENDER[gender]
    born = patient.get("birthDate")
    if born is not None:
        earliest, latest = _birth_range(born, where)
        if latest > today:
            raise FhirInputError(f"{where}: Patient.birthDate {born} is after today ({today.isoformat()})")
        oldest, youngest = _whole_years(earliest, today), _whole_years(latest, today)
        if oldest == youngest:
            found["age"] = float(oldest)
    return found


def _birth_range(text: object, where: str) -> tuple[date, date]:
    """The first and last day a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD) can stand for."""
    problem = f"{where}: Patient.birthDate {shown(text)} is not a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD)"
    if not isinstance(text, str):
        raise FhirInputError(problem)
    parts = text.split("-")
    try:
        numbers = [int(part) for part in parts]
        if len(parts) == 3:
            day = date(numbers[0], numbers[1], numbers[2])
            return day, day
        if len(parts) == 2:
            last = calendar.monthrange(numbers[0], numbers[1])[1]
            return date(numbers[0], numbers[1], 1), date(numbers[0], numbers[1], last)
        if len(parts) == 1 and len(text) == 4:
            return date(numbers[0], 1, 1), date(numbers[0], 12, 31)
    except (ValueError, calendar.IllegalMonthError):
        pass
    raise FhirInputError(problem)


def _whole_years(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))
