"""What a rule pack's tests import: ``from calfrules.testing import assert_golden_cases_pass``.

The fixtures (``calfrules_engine``) come from the pytest plugin
``calfrules.tooling.pytest_plugin``, which pytest loads by itself once calfrules is
installed; this module is the stable import path for the helpers.
"""

from __future__ import annotations

from calfrules.tooling.pytest_plugin import assert_golden_cases_pass, make_engine

__all__ = ["assert_golden_cases_pass", "make_engine"]
