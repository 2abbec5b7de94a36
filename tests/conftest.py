"""Shared fixtures; hypothesis profiles: quick `dev`, thorough `ci` (chosen by $CI)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from calfrules import Engine, load_engine

settings.register_profile("dev", max_examples=60, deadline=None)
settings.register_profile(
    "ci", max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("ci" if os.environ.get("CI", "").lower() in ("1", "true", "yes") else "dev")


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    """The built-in knowledge only (installed third-party packs never leak into core tests)."""
    built = load_engine(allow=BUILTIN_PLUGINS)
    yield built
    built.close()


BUILTIN_PLUGINS = [
    "vocabulary",
    "cramps",
    "strains",
    "shin_splints",
    "stress_fractures",
    "dehydration",
    "form",
    "red_flags",
]
