"""Small builders for tests: a ruleset from TOML text, an engine from it."""

from __future__ import annotations

import textwrap

from calfrules import Engine, Ruleset, load_engine
from calfrules.engine.durable.definitions import DurablePlan
from calfrules.knowledge.builtin import BUILTIN_PLUGINS
from calfrules.knowledge.ruleset_io import loads

HEADER = """
id = "{id}"
version = "1.0.0"
title = "test ruleset"

[[references]]
id = "ref"
citation = "test citation"
"""


# one condition, concluded from calf_pain alone: the smallest ruleset that fires
PAIN_RULE = """
[conditions.c]
label = "C"

[[rules]]
id = "pain"
when = "calf_pain"
conclude = "c"
rationale = "x"
"""


def ruleset(body: str, ruleset_id: str = "t") -> Ruleset:
    return loads(HEADER.format(id=ruleset_id) + textwrap.dedent(body), f"{ruleset_id}.toml")


def engine_with(*rulesets: Ruleset, builtins: bool = True) -> Engine:
    """An engine with the core plus the given rulesets, and the built-in plugins unless told not to.

    Installed packs never come in: core tests see the built-in knowledge only.
    """
    return load_engine(rulesets=rulesets, allow=BUILTIN_PLUGINS if builtins else [])


def durable_plan(engine: Engine) -> DurablePlan:
    """The shards, stages and fact keys the engine's durable_rules backend runs."""
    return engine._pipeline.durable.plan
