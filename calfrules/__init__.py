"""calfrules: a clinical decision-support engine for calf and lower-leg pain in runners.

Typical use::

    from calfrules import load_engine
    engine = load_engine()
    assessment = engine.assess({"findings": {"calf_pain": True, "swelling_unilateral": True}})
    print(assessment.level, assessment.to_dict())
"""

from __future__ import annotations

__version__ = "0.1.0"

from .assessment import Assessment
from .case import Case
from .derivers import Deriver, Score
from .engine import Engine, load_engine
from .errors import CalfrulesError, CaseError, ConditionError, EngineFault, PluginError, RulesetError
from .hookspecs import hookimpl
from .levels import Level
from .model import FloorEntry, Recommendation, Rule, Ruleset
from .ruleset_io import load as load_ruleset
from .ruleset_io import load_resource as load_ruleset_resource
from .ruleset_io import save as save_ruleset
from .vocabulary import Finding

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
