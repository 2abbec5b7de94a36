"""Shared fixtures; hypothesis profiles: quick `dev`, thorough `ci` (chosen by $CI)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from calfrules import Engine, load_engine
from calfrules.knowledge.builtin import BUILTIN_PLUGINS as BUILTIN_PLUGIN_NAMES

settings.register_profile("dev", max_examples=60, deadline=None)
settings.register_profile(
    "ci", max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
settings.load_profile("ci" if IN_CI else "dev")
# examples per safety property: each example assesses several cases (see the summary line)
PROPERTY_EXAMPLES = 2500 if IN_CI else 40
# the plugins that ship inside calfrules (allow exactly these to keep installed packs out)
BUILTIN_PLUGINS = list(BUILTIN_PLUGIN_NAMES)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from case_counter import CASES

    if CASES:
        parts = ", ".join(f"{name} {count}" for name, count in sorted(CASES.items()))
        terminalreporter.write_line(f"safety properties: {sum(CASES.values())} cases ({parts})")


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    """The built-in knowledge only (installed third-party packs never leak into core tests)."""
    built = load_engine(allow=BUILTIN_PLUGINS)
    yield built
    built.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Any]:
    """An SQLite audit trail in the test's folder (a module may define its own)."""
    from calfrules.audit import open_audit

    with open_audit(f"sqlite:///{tmp_path / 'audit.sqlite3'}") as opened:
        yield opened


@pytest.fixture
def client(engine: Engine, store: Any) -> Iterator[Any]:
    """The service on the built-in engine, recording into ``store``, no token (imports FastAPI only when used)."""
    from fastapi.testclient import TestClient

    from calfrules.service import create_app

    with TestClient(create_app(engine, audit=store)) as test_client:
        yield test_client
