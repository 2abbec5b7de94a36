"""Shared by the built-in plugins: load a TOML ruleset shipped in calfrules.rulesets."""

from __future__ import annotations

from calfrules import Ruleset, load_ruleset_resource


def builtin_ruleset(name: str) -> Ruleset:
    return load_ruleset_resource("calfrules.rulesets", f"{name}.toml")
