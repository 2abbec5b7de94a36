"""``calfrules schema``: publish the JSON Schema of the case, the assessment or the ruleset file."""

from __future__ import annotations

import json
from pathlib import Path

import click

from calfrules.cli._common import load_cli_engine

# formats.json_schema's SCHEMA_NAMES, spelt out: importing it (and importlib.resources) is for this command only
SCHEMA_NAMES = ("case", "assessment", "ruleset")


@click.command("schema")
@click.argument("name", type=click.Choice(SCHEMA_NAMES))
@click.option(
    "--generic",
    is_flag=True,
    help="Case schema only: accept any finding id instead of listing the loaded vocabulary's findings.",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file (atomically)."
)
@click.pass_context
def schema_cmd(ctx: click.Context, name: str, generic: bool, output: Path | None) -> None:
    """Print the JSON Schema (draft 2020-12) of a case, an assessment or a ruleset TOML file.

    The ruleset schema lets editors that read JSON Schema for TOML (Taplo, VS Code's Even
    Better TOML) complete and check a ruleset as it is typed.

    \b
    Examples:
      calfrules schema case          every known finding with its type, unit and range
      calfrules schema assessment -o assessment.schema.json
      calfrules schema ruleset -o ruleset.schema.json
    """
    from calfrules.formats.json_schema import schema_for

    vocabulary = None
    if name == "case" and not generic:
        engine = load_cli_engine(ctx, isolation="none")
        vocabulary = engine.vocabulary
        engine.close()
    text = json.dumps(schema_for(name, vocabulary), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    from calfrules.knowledge.ruleset_io import atomic_write_text

    atomic_write_text(output, text)
    click.echo(f"wrote {output}", err=True)
