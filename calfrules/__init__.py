"""calfrules: a clinical decision-support engine for calf and lower-leg pain in runners.

Typical use::

    from calfrules import load_engine
    engine = load_engine()
    assessment = engine.assess({"findings": {"calf_pain": True, "swelling_unilateral": True}})
    print(assessment.level, assessment.to_dict())
"""

from __future__ import annotations

import gc
import os
import sys
from importlib.machinery import ModuleSpec
from importlib.util import spec_from_file_location
from types import ModuleType
from typing import Any

# Importing the engine makes thousands of long-lived objects (classes, functions, tables) and
# next to no garbage: the collections that would run midway only cost time (about 4 ms).
_collecting = gc.isenabled()
gc.disable()
try:
    from calfrules._version import __version__
    from calfrules.engine.assessment import Assessment
    from calfrules.engine.engine import Engine, load_engine
    from calfrules.knowledge.case import Case
    from calfrules.knowledge.derivers import Deriver, Score
    from calfrules.knowledge.hookspecs import hookimpl
    from calfrules.knowledge.ruleset_io import load as load_ruleset
    from calfrules.knowledge.ruleset_io import load_resource as load_ruleset_resource
    from calfrules.knowledge.ruleset_io import save as save_ruleset
    from calfrules.rules.errors import CalfrulesError, CaseError, ConditionError, EngineFault, PluginError, RulesetError
    from calfrules.rules.levels import Level
    from calfrules.rules.model import FloorEntry, Recommendation, Rule, Ruleset
    from calfrules.rules.vocabulary import Finding
finally:
    if _collecting:
        gc.enable()

# Installed, top-level plugins/ and rulesets/ become these subpackages (pyproject's package-dir).
_MAPPED_FOLDERS = ("plugins", "rulesets")


class _SourceCheckoutFinder:  # a meta path finder; importlib.abc's base class costs 10 ms to import
    """Finds ``calfrules.plugins`` and ``calfrules.rulesets`` in a source checkout's top-level folders.

    From the repository root the source ``calfrules/`` shadows an installed one (the current
    folder comes first on sys.path) and holds neither subpackage, so this maps exactly those two
    names, and nothing else, to the folders pyproject.toml installs them from.
    """

    def __init__(self, root: str) -> None:
        self.root = root

    def find_spec(self, fullname: str, path: Any = None, target: ModuleType | None = None) -> ModuleSpec | None:
        package, _, name = fullname.rpartition(".")
        if package != __name__ or name not in _MAPPED_FOLDERS:
            return None
        folder = os.path.join(self.root, name)
        return spec_from_file_location(
            fullname, os.path.join(folder, "__init__.py"), submodule_search_locations=[folder]
        )


def _map_source_checkout_folders() -> None:
    # os.path, not pathlib: pathlib and what it imports would cost every start-up 5-10 ms
    here = os.path.dirname(os.path.realpath(__file__))
    root = os.path.dirname(here)
    installed = os.path.isdir(os.path.join(here, "rulesets"))
    in_checkout = os.path.isfile(os.path.join(root, "pyproject.toml")) and all(
        os.path.isfile(os.path.join(root, name, "__init__.py")) for name in _MAPPED_FOLDERS
    )
    if in_checkout and not installed:
        # appended: an editable install's own finder, which maps the same folders, stays first
        sys.meta_path.append(_SourceCheckoutFinder(root))


_map_source_checkout_folders()

__all__ = [
    "Assessment",
    "CalfrulesError",
    "Case",
    "CaseError",
    "ConditionError",
    "Deriver",
    "Engine",
    "EngineFault",
    "Finding",
    "FloorEntry",
    "Level",
    "PluginError",
    "Recommendation",
    "Rule",
    "Ruleset",
    "RulesetError",
    "Score",
    "__version__",
    "hookimpl",
    "load_engine",
    "load_ruleset",
    "load_ruleset_resource",
    "save_ruleset",
]
