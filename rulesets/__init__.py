"""Built-in rulesets shipped as package data."""
