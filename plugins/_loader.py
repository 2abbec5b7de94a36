"""Shared by the built-in plugins: a TOML ruleset shipped in calfrules.rulesets."""

from __future__ import annotations

from calfrules.knowledge.builtin import builtin_ruleset

__all__ = ["builtin_ruleset"]
