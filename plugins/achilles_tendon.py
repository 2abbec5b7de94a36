"""Built-in plugin: registers the Achilles tendon ruleset (rulesets/achilles_tendon.toml)."""

from __future__ import annotations

from collections.abc import Callable

from calfrules import Ruleset, hookimpl

from ._loader import builtin_ruleset


@hookimpl
def calfrules_register_rulesets(register: Callable[[Ruleset], None]) -> None:
    register(builtin_ruleset("achilles_tendon"))
