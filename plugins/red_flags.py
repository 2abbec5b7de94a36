"""Built-in plugin: the red-flag rules (rulesets/red_flags.toml).

Its floor entries and screen, and the Wells score, belong to the core
(calfrules/knowledge/builtin.py), so blocking or breaking this plugin never removes the
red-flag floor. The core and this plugin share one parse of red_flags.toml.
"""

from __future__ import annotations

from collections.abc import Callable

from calfrules import Ruleset, hookimpl

from ._loader import builtin_ruleset


@hookimpl
def calfrules_register_rulesets(register: Callable[[Ruleset], None]) -> None:
    register(builtin_ruleset("red_flags"))
