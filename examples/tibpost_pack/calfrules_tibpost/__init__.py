"""An example calfrules rule pack: one TOML ruleset, registered through one hook."""

from __future__ import annotations

from collections.abc import Callable

from calfrules import Ruleset, hookimpl, load_ruleset_resource

__version__ = "0.1.0"


@hookimpl
def calfrules_register_rulesets(register: Callable[[Ruleset], None]) -> None:
    register(load_ruleset_resource(__name__, "tibpost.toml"))
