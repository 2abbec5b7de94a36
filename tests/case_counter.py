"""Counts the cases each safety property assesses, reported at the end of the run."""

from __future__ import annotations

from collections import Counter

CASES: Counter[str] = Counter()
