"""Built-in plugin: red flags (rulesets/red_flags.toml) and the Wells score for DVT."""

from __future__ import annotations

from collections.abc import Callable

from calfrules import Deriver, Ruleset, hookimpl

from ._loader import builtin_ruleset
from .wells import wells_deriver


@hookimpl
def calfrules_register_rulesets(register: Callable[[Ruleset], None]) -> None:
    register(builtin_ruleset("red_flags"))


@hookimpl
def calfrules_register_derivers(register: Callable[[Deriver], None]) -> None:
    register(wells_deriver())
