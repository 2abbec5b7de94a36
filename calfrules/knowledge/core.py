"""What every engine has, whatever plugins are allowed, blocked or broken.

The public vocabulary, the built-in red-flag floor and the Wells score are core:
a plugin can add to them or raise the floor, but blocking or breaking a plugin
never removes a floor entry.
"""

from __future__ import annotations

from calfrules.knowledge.ruleset_io import load_resource
from calfrules.knowledge.wells import wells_deriver
from calfrules.rules.model import Ruleset

BUILTIN_RULESETS = "calfrules.rulesets"
CORE = "core"
# the id, in red_flags.toml's references, of the published source for the urgency levels
LEVELS_REFERENCE = "urgency_levels"


def core_vocabulary() -> Ruleset:
    return load_resource(BUILTIN_RULESETS, "vocabulary.toml")


def core_floor_source() -> Ruleset:
    """The built-in red-flag ruleset; the core takes only its floor entries."""
    return load_resource(BUILTIN_RULESETS, "red_flags.toml")


__all__ = ["CORE", "core_floor_source", "core_vocabulary", "wells_deriver"]
