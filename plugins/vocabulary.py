"""Built-in plugin: registers the vocabulary ruleset (rulesets/vocabulary.toml)."""

from __future__ import annotations

from collections.abc import Callable

from calfrules import Ruleset, hookimpl

from ._loader import builtin_ruleset


@hookimpl
def calfrules_register_rulesets(register: Callable[[Ruleset], None]) -> None:
    register(builtin_ruleset("vocabulary"))
