"""calfrules: a clinical decision-support engine for calf and lower-leg pain in runners.

Typical use::

    from calfrules import load_engine
    engine = load_engine()
    assessment = engine.assess({"findings": {"calf_pain": True, "swelling_unilateral": True}})
    print(assessment.level, assessment.to_dict())
"""

from __future__ import annotations

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
