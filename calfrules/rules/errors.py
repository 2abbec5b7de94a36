"""Errors a user can act on: each says what is wrong and what to fix."""

from __future__ import annotations


class CalfrulesError(Exception):
    """Base of every error calfrules raises on purpose."""


class CaseError(CalfrulesError):
    """The case (the findings to assess) is not valid."""


class RulesetError(CalfrulesError):
    """A ruleset file or definition is not valid; says where (file, rule, column)."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        rule: str | None = None,
        column: int | None = None,
    ) -> None:
        self.message = message
        self.source = source
        self.rule = rule
        self.column = column
        super().__init__(self.location_prefix() + message)

    def location_prefix(self) -> str:
        parts = []
        if self.source:
            parts.append(self.source)
        if self.rule:
            parts.append(f"rule {self.rule}")
        if self.column is not None:
            parts.append(f"column {self.column}")
        return (": ".join(parts) + ": ") if parts else ""


class ConditionError(CalfrulesError):
    """A ``when`` condition does not parse or names something unknown."""

    def __init__(self, message: str, *, column: int | None = None, text: str = "") -> None:
        self.message = message
        self.column = column
        self.text = text
        where = f"column {column}: " if column is not None else ""
        super().__init__(where + message)

    def pointer(self) -> str:
        """The condition with a caret under the offending column."""
        if self.column is None or not self.text:
            return self.text
        return f"{self.text}\n{' ' * (self.column - 1)}^"


class EngineFault(CalfrulesError):
    """The rule engine failed while assessing; the caller fails safe."""


class PluginError(CalfrulesError):
    """A plugin could not be loaded or its contribution was refused."""
