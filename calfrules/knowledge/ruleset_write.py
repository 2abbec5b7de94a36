"""Write a ruleset as TOML: lossless (load, dump, load gives an equal ruleset) and atomic."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import tomli_w

from calfrules.files import atomic_write_text
from calfrules.rules.model import GoldenCase, Recommendation, Rule, Ruleset
from calfrules.rules.vocabulary import Finding


def ruleset_to_data(ruleset: Ruleset) -> dict[str, Any]:
    """The TOML-ready form: everything the ruleset holds, nothing more."""
    data: dict[str, Any] = {"id": ruleset.id, "version": ruleset.version, "title": ruleset.title}
    if ruleset.authors:
        data["authors"] = list(ruleset.authors)
    if ruleset.description:
        data["description"] = ruleset.description
    if ruleset.references:
        data["references"] = [_drop_empty(vars(ref)) for ref in ruleset.references]
    if ruleset.findings:
        data["findings"] = {f.id: _finding_data(f) for f in ruleset.findings}
    if ruleset.conditions:
        data["conditions"] = {
            c.id: _drop_empty({"label": c.label, "description": c.description, "red_flag": c.red_flag})
            for c in ruleset.conditions
        }
    if ruleset.rules:
        data["rules"] = [_rule_data(rule) for rule in ruleset.rules]
    if ruleset.floor:
        data["floor"] = [
            _drop_empty(
                {
                    "id": e.id,
                    "when": e.when,
                    "level": e.level.value,
                    "label": e.label,
                    "rationale": e.rationale,
                    "references": list(e.references),
                }
            )
            for e in ruleset.floor
        ]
    if ruleset.screen:
        data["screen"] = [
            _drop_empty(
                {
                    "id": g.id,
                    "label": g.label,
                    "when": g.when,
                    "ask": list(g.ask),
                    "default": g.default,
                    "rationale": g.rationale,
                    "references": list(g.references),
                }
            )
            for g in ruleset.screen
        ]
    if ruleset.tests:
        data["tests"] = [_golden_data(t) for t in ruleset.tests]
    return data


def _finding_data(finding: Finding) -> dict[str, Any]:
    data = finding.to_dict()
    del data["id"]
    if data.get("group") == "general":
        del data["group"]
    return data


def _rule_data(rule: Rule) -> dict[str, Any]:
    data: dict[str, Any] = {"id": rule.id, "when": rule.when}
    if rule.description:
        data["description"] = rule.description
    if rule.conclude:
        data["conclude"] = rule.conclude
    if rule.derive:
        data["derive"] = list(rule.derive)
    if rule.escalate:
        data["escalate"] = rule.escalate.value
    data["rationale"] = rule.rationale
    if rule.references:
        data["references"] = list(rule.references)
    if rule.recommend:
        data["recommend"] = [_recommendation_data(rec) for rec in rule.recommend]
    return data


def _recommendation_data(rec: Recommendation) -> dict[str, Any]:
    data: dict[str, Any] = {"id": rec.id, "text": rec.text, "kind": rec.kind, "priority": rec.priority}
    if rec.dose:
        data["dose"] = {key: list(value) if isinstance(value, tuple) else value for key, value in rec.dose}
    if rec.references:
        data["references"] = list(rec.references)
    if rec.return_if:
        data["return_if"] = rec.return_if
    if rec.avoid_with:
        data["avoid_with"] = list(rec.avoid_with)
    return data


def _golden_data(test: GoldenCase) -> dict[str, Any]:
    expect = test.expect
    data = _drop_empty(
        {
            "id": test.id,
            "description": test.description,
            "findings": dict(test.findings),
            "expect": _drop_empty(
                {
                    "level": expect.level.value if expect.level else None,
                    "conditions": list(expect.conditions),
                    "absent_conditions": list(expect.absent_conditions),
                    "recommendations": list(expect.recommendations),
                    "red_flags": list(expect.red_flags),
                    "screen_groups": list(expect.screen_groups),
                }
            ),
        },
        keep=("findings", "expect"),
    )
    if expect.screen_complete is not None:  # false is a real expectation, kept
        data["expect"]["screen_complete"] = expect.screen_complete
    return data


def _drop_empty(data: dict[str, Any], keep: tuple[str, ...] = ()) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k in keep or v not in (None, "", [], (), False)}


def dumps(ruleset: Ruleset) -> str:
    return tomli_w.dumps(ruleset_to_data(ruleset))


def save(ruleset: Ruleset, path: str | os.PathLike[str], *, backup: bool = False) -> Path:
    """Write atomically: a crash mid-save leaves the old file whole."""
    path = Path(path)
    text = dumps(ruleset)
    if backup and path.exists():
        atomic_write_text(path.with_suffix(path.suffix + ".bak"), path.read_text(encoding="utf-8"))
    atomic_write_text(path, text)
    return path


def content_hash(ruleset: Ruleset) -> str:
    canonical = json.dumps(ruleset_to_data(ruleset), sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
