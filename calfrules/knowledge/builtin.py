"""What ships inside calfrules: the core every engine has, and the built-in plugins.

Declared here the way pytest declares ``essential_plugins`` and ``default_plugins``:
the built-in plugins are registered from :data:`BUILTIN_PLUGINS`, never found through
entry points (those are for third-party packs), so "built-in" is a fact, not a guess.

The core (:data:`CORE`) is the public vocabulary, the built-in red-flag floor and
screen, the Wells score and NEWS2. It is not a pluggy plugin: the registry adds it before any
plugin runs, so no allow or block list and no broken plugin can remove a floor entry.
"""

from __future__ import annotations

import functools

from calfrules.knowledge.derivers import Deriver
from calfrules.knowledge.news2 import news2_deriver, news2_highest_parameter_deriver
from calfrules.knowledge.ruleset_io import load_resource
from calfrules.knowledge.wells import wells_deriver
from calfrules.rules.model import Ruleset

CORE = "core"
CORE_CONTENTS = "the vocabulary, the red-flag floor and screen, the Wells score and NEWS2"
# the built-in plugins, in the order their hooks run; each is the module calfrules.plugins.<name>
BUILTIN_PLUGINS: tuple[str, ...] = (
    "achilles_tendon",
    "cramps",
    "dehydration",
    "form",
    "red_flags",
    "shin_splints",
    "strains",
    "stress_fractures",
)
BUILTIN_PLUGIN_PACKAGE = "calfrules.plugins"
BUILTIN_RULESETS = "calfrules.rulesets"
# the id, in red_flags.toml's references, of the published source for the urgency levels
LEVELS_REFERENCE = "urgency_levels"


@functools.cache
def builtin_ruleset(name: str) -> Ruleset:
    """A ruleset shipped in calfrules.rulesets, parsed and checked once per process.

    Rulesets are frozen (tuples all the way down), so every engine can share one.
    """
    return load_resource(BUILTIN_RULESETS, f"{name}.toml")


def core_derivers() -> tuple[Deriver, ...]:
    """The scores the core computes before any rule runs (no plugin can block them)."""
    return (wells_deriver(), news2_deriver(), news2_highest_parameter_deriver())


def core_vocabulary() -> Ruleset:
    return builtin_ruleset("vocabulary")


def core_floor_source() -> Ruleset:
    """The built-in red-flag ruleset; the core takes its floor and screen, the red_flags plugin its rules."""
    return builtin_ruleset("red_flags")


__all__ = [
    "BUILTIN_PLUGINS",
    "CORE",
    "builtin_ruleset",
    "core_derivers",
    "core_floor_source",
    "core_vocabulary",
    "wells_deriver",
]
