"""``calfrules export --clips [-o FILE]``: the loaded rules as a CLIPS program."""

from __future__ import annotations

from pathlib import Path

import click

from calfrules.cli._common import load_cli_engine
from calfrules.rules.errors import CalfrulesError


@click.command("export")
@click.option("--clips", "as_clips", is_flag=True, help="Write CLIPS source (the only format so far).")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Write to this file (atomically) instead of standard output.",
)
@click.pass_context
def export_cmd(ctx: click.Context, as_clips: bool, output: str | None) -> None:
    """Export the loaded rules (built-in, packs and -r files) to another rule engine.

    \b
    CLIPS: one (finding (name ID) (value V)) fact per finding and score, one defrule per
    alternative of each rule's 'when'; fired rules appear as (fired (ruleset R) (rule ID)).
    The red-flag floor and scores stay in calfrules. Example:
      calfrules export --clips -o calfrules.clp
    """
    if not as_clips:
        raise CalfrulesError("choose a format: calfrules export --clips")
    from calfrules.tooling.clips_export import export_program

    engine = load_cli_engine(ctx, isolation="none")
    text = export_program(engine.program)
    engine.close()
    if output is None:
        click.echo(text, nl=False)
        return
    from calfrules.knowledge.ruleset_io import atomic_write_text

    try:
        atomic_write_text(Path(output), text)
    except OSError as exc:
        raise CalfrulesError(f"{output}: cannot write ({exc.strerror or exc})") from None
    click.echo(f"wrote {len(engine.program.rules)} rules to {output}", err=True)
