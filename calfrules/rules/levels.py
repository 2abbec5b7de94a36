"""The four urgency levels, ordered so that escalation can only go up."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from functools import total_ordering


@total_ordering
class Level(enum.Enum):
    """How soon the person should be seen; compare with ``<`` / ``max``."""

    SELF_CARE = "self_care"
    SEE_CLINICIAN = "see_clinician"
    URGENT = "urgent"
    EMERGENCY = "emergency"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def meaning(self) -> str:
        return _MEANINGS[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Level):
            return NotImplemented
        return self.rank < other.rank

    @classmethod
    def parse(cls, text: str) -> Level:
        """Read a level from its id (``"urgent"``); raises ValueError naming the choices."""
        try:
            return cls(text)
        except ValueError:
            choices = ", ".join(level.value for level in cls)
            raise ValueError(f"unknown level {text!r}; use one of: {choices}") from None

    @classmethod
    def highest(cls, levels: Iterable[Level]) -> Level:
        return max(levels, default=cls.SELF_CARE)


_RANK = {level: rank for rank, level in enumerate(Level)}
_LABELS = {
    Level.SELF_CARE: "Self-care",
    Level.SEE_CLINICIAN: "See a clinician",
    Level.URGENT: "Urgent",
    Level.EMERGENCY: "Emergency",
}
_MEANINGS = {
    Level.SELF_CARE: "Manage at home with the advice below; come back if it gets worse.",
    Level.SEE_CLINICIAN: "Book a GP or physiotherapist within days, not weeks.",
    Level.URGENT: "Needs a medical assessment today.",
    Level.EMERGENCY: "Call emergency services or go to an emergency department now.",
}
