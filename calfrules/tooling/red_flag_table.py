"""The red-flag table and the screen as published data (``calfrules safety`` / ``screen``, the README)."""

from __future__ import annotations

from typing import Any

from calfrules.engine.engine import Engine
from calfrules.rules import condition
from calfrules.rules.program import CompiledFloorEntry


def floor_kind(entry: CompiledFloorEntry) -> str:
    """ "sign" when every alternative needs one finding only; "combination" otherwise."""
    branches = condition.to_dnf(entry.expr)
    single = all(sum(1 for _, positive in branch if positive) == 1 for branch in branches)
    return "sign" if single else "combination"


def floor_rows(engine: Engine) -> list[dict[str, Any]]:
    """Every floor entry, highest level first: signs alone, then combinations."""
    entries = sorted(engine.program.floor, key=lambda c: (-c.entry.level.rank, floor_kind(c) != "sign", c.entry.id))
    return [
        {
            "id": c.entry.id,
            "kind": floor_kind(c),
            "when": c.entry.when,
            "level": c.entry.level.value,
            "label": c.entry.label,
            "findings": list(c.names),
            "rationale": c.entry.rationale,
            "sources": [{"id": s.id, "citation": s.citation, "url": s.url} for s in c.sources],
            "origin": c.origin,
        }
        for c in entries
    ]


def screen_rows(engine: Engine) -> list[dict[str, Any]]:
    vocabulary = engine.vocabulary
    return [
        {
            "id": g.group.id,
            "label": g.group.label,
            "when": g.group.when,
            "default": g.group.default,
            "questions": [{"id": q, "question": vocabulary[q].question} for q in g.group.ask if q in vocabulary],
            "rationale": g.group.rationale,
        }
        for g in engine.program.screen
    ]


def markdown_table(engine: Engine) -> str:
    """The red-flag table as the README shows it (``python -m calfrules.tooling.red_flag_table``)."""
    lines = ["| level | red flag | when | source |", "|---|---|---|---|"]
    for row in floor_rows(engine):
        cited = "; ".join(_short_citation(s) for s in row["sources"]) or "-"
        when = row["when"].replace("|", "\\|")
        kind = "" if row["kind"] == "sign" else " (combination)"
        lines.append(f"| `{row['level']}` | {row['label']}{kind} | `{when}` | {cited} |")
    return "\n".join(lines)


def _short_citation(source: dict[str, Any]) -> str:
    title = str(source["citation"]).split(":")[0].split(",")[0].strip()
    return f"[{title}]({source['url']})" if source.get("url") else title


def builtin_markdown_table() -> str:
    """The table of the built-in knowledge only (installed packs left out)."""
    from calfrules.engine.engine import load_engine

    with load_engine(isolation="none") as everything:
        builtins = [p.name for p in everything.plugins if p.builtin]
    with load_engine(allow=builtins, isolation="none") as builtin:
        return markdown_table(builtin)


if __name__ == "__main__":
    print(builtin_markdown_table())
