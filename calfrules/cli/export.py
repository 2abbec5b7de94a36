"""``calfrules export --clips|--fhir-questionnaire [-o FILE]``: the loaded rules as a CLIPS program, or
the vocabulary and red-flag screen as a FHIR R4 (SDC) Questionnaire."""

from __future__ import annotations

from pathlib import Path

import click

from calfrules._version import __version__
from calfrules.cli._common import load_cli_engine
from calfrules.rules.errors import CalfrulesError


@click.command("export")
@click.option("--clips", "as_clips", is_flag=True, help="Write CLIPS source.")
@click.option(
    "--fhir-questionnaire",
    "as_questionnaire",
    is_flag=True,
    help="Write a FHIR R4 (SDC) Questionnaire: the red-flag screen, then every finding by group.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Write to this file (atomically) instead of standard output.",
)
@click.pass_context
def export_cmd(ctx: click.Context, as_clips: bool, as_questionnaire: bool, output: str | None) -> None:
    """Export the loaded rules (built-in, packs and -r files) to another rule engine, or as a form.

    \b
    CLIPS: one (finding (name ID) (value V)) fact per finding and score, one defrule per
    alternative of each rule's 'when'; fired rules appear as (fired (ruleset R) (rule ID)).
    The red-flag floor and scores stay in calfrules. Example:
      calfrules export --clips -o calfrules.clp

    \b
    FHIR Questionnaire: linkId is the finding id; an EHR renders it and sends back a
    QuestionnaireResponse that `calfrules assess` reads. Example:
      calfrules export --fhir-questionnaire -o questionnaire.json
    """
    if as_clips == as_questionnaire:
        raise CalfrulesError("choose one format: calfrules export --clips, or calfrules export --fhir-questionnaire")
    engine = load_cli_engine(ctx, isolation="none")
    if as_questionnaire:
        import json

        from calfrules.formats.questionnaire import questionnaire

        groups = [compiled.group for compiled in engine.program.screen]
        form = questionnaire(engine.vocabulary, groups, version=__version__)
        text, what = json.dumps(form, indent=2, ensure_ascii=False) + "\n", f"{len(engine.vocabulary)} questions"
    else:
        from calfrules.tooling.clips_export import export_program

        text, what = export_program(engine.program), f"{len(engine.program.rules)} rules"
    engine.close()
    if output is None:
        click.echo(text, nl=False)
        return
    from calfrules.knowledge.ruleset_io import atomic_write_text

    try:
        atomic_write_text(Path(output), text)
    except OSError as exc:
        raise CalfrulesError(f"{output}: cannot write ({exc.strerror or exc})") from None
    click.echo(f"wrote {what} to {output}", err=True)
