"""What a rule pack's tests import: ``from calfrules.testing import assert_golden_cases_pass``.

The ``calfrules_engine`` fixture comes from the pytest plugin, which pytest loads by itself
once calfrules is installed (no conftest needed). With plugin autoloading turned off, put
``pytest_plugins = ["calfrules.testing"]`` in the pack's top-level conftest.py: this module
is that plugin too. Install pytest and hypothesis with ``pip install 'calfrules[testing]'``.

- ``calfrules_engine``: every installed plugin, refusing to start with load problems;
- ``make_engine(...)``: the same, built by hand (extra plugins or ruleset files);
- ``golden_cases(engine, ruleset_id)``: a ruleset's ``[[tests]]``;
- ``assert_golden_cases_pass(engine, ruleset_id)``: run them, failing with every difference;
- ``assert_safety_gate_passes(engine)``: the red-flag safety gate of ``calfrules check``;
- ``assert_red_flags_never_lower(engine, ruleset_id)``: a hypothesis property over the
  ruleset's own findings: a red-flag sign keeps its red flags and level whatever they say;
- ``pack_findings(engine, ruleset_id)``: the findings that property draws from.
"""

from __future__ import annotations

from calfrules.tooling.pytest_plugin import (
    assert_golden_cases_pass,
    assert_red_flags_never_lower,
    assert_safety_gate_passes,
    calfrules_engine,
    golden_cases,
    make_engine,
    pack_findings,
)

__all__ = [
    "assert_golden_cases_pass",
    "assert_red_flags_never_lower",
    "assert_safety_gate_passes",
    "calfrules_engine",
    "golden_cases",
    "make_engine",
    "pack_findings",
]
