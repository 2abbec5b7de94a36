"""``calfrules assess``: one case (a file or standard input), or a batch (a folder, a .jsonl file)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from calfrules.cli._common import EXIT_BAD_INPUT, SCREEN_OPTION, load_cli_engine, named_rulesets, print_json
from calfrules.engine.assessment import Assessment
from calfrules.engine.engine import Engine
from calfrules.rules.errors import CalfrulesError
from calfrules.rules.vocabulary import Vocabulary

if TYPE_CHECKING:  # the text renderer is imported only when text is printed
    from calfrules.formats.text import Detail

FORMATS = ("text", "json", "fhir")


@click.command("assess")
@click.argument("case", metavar="PATH|-")
@click.option("--json", "as_json", is_flag=True, help="Print the full assessment as JSON (same as --format json).")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    show_default="text; JSON Lines for a batch",
    help="text for people; json: Assessment.to_dict(); fhir: a FHIR R4 Bundle (GuidanceResponse, RiskAssessment, "
    "Provenance).",
)
@click.option("--audit", is_flag=True, help="Record it in the audit trail ($CALFRULES_AUDIT, else the default file).")
@click.option("--audit-db", metavar="URL", help="Record it in this audit trail (implies --audit; see `audit -h`).")
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1, max=64),
    help="Batch: worker processes (default: every core; 1 with --audit).",
)
@click.option("--brief", is_flag=True, help="Text: only the level, its reasons, the questions to ask and the advice.")
@click.option("--full", is_flag=True, help="Text: every rationale, rule id, rule that fired and full citation.")
@SCREEN_OPTION
@click.pass_context
def assess_cmd(
    ctx: click.Context,
    case: str,
    as_json: bool,
    output_format: str | None,
    audit: bool,
    audit_db: str | None,
    jobs: int | None,
    brief: bool,
    full: bool,
    screen: str,
) -> None:
    """Assess one case file (JSON or TOML; - reads standard input), or a batch.

    A case looks like {"id": "optional", "findings": {"calf_pain": true, "pain_score": 4}},
    or is a FHIR QuestionnaireResponse answering `calfrules export --fhir-questionnaire`.
    Exit status 2 with a one-line error for bad input.

    \b
    Examples:
      calfrules assess case.json
      echo '{"findings": {"calf_pain": true}}' | calfrules assess - --json
      calfrules assess cases/ --format text     a folder, each case as text

    \b
    Batch: PATH a folder (every *.json and *.toml in it) or a .jsonl file (one case per
    line) prints JSON Lines, one {"source", "line", "ok", "assessment" | "error"} per case in
    input order (--format text: each case as text under a "== FILE ==" header), over --jobs
    processes; bad cases are reported and skipped, exit 2 at the end.
    """
    chosen = chosen_format(as_json, output_format)
    detail = text_detail(brief, full, chosen)
    if not case.strip():
        raise CalfrulesError("PATH is empty: give a case file, a folder, a .jsonl file, or - for standard input")
    from calfrules.cli.batch import is_batch_source

    if is_batch_source(case):
        assess_batch(ctx, case, jobs, chosen or "json", audit, audit_db, screen, detail)
        return
    from calfrules.knowledge.case import read_case_source

    data = read_case_source(case)
    engine = load_cli_engine(ctx, screen=screen)
    patient_id = None
    if isinstance(data, dict) and "resourceType" in data:  # a FHIR QuestionnaireResponse answering ours
        from calfrules.formats.fhir_input import case_from_questionnaire_response, subject_patient_id

        patient_id = subject_patient_id(data)
        data = case_from_questionnaire_response(data, engine.vocabulary)
    if audit or audit_db:
        from calfrules.cli.audit import attach_audit

        attach_audit(ctx, engine, audit_db)
    assessment = engine.assess(data)  # type: ignore[arg-type]
    print_assessment(assessment, chosen or "text", engine.vocabulary, detail, patient_id=patient_id)


def chosen_format(as_json: bool, output_format: str | None) -> str | None:
    """--json is --format json; asking for two different outputs is a mistake, not a preference."""
    if as_json and output_format not in (None, "json"):
        raise CalfrulesError(f"--json and --format {output_format} ask for different outputs: give one")
    return "json" if as_json else output_format


def text_detail(brief: bool, full: bool, output_format: str | None) -> Detail:
    """--brief or --full shorten or lengthen the text; with another output, or both, they are a mistake."""
    if brief and full:
        raise CalfrulesError("--brief and --full ask for different lengths: give one")
    if (brief or full) and output_format not in (None, "text"):
        flag = "--brief" if brief else "--full"
        raise CalfrulesError(f"{flag} is for the text output; --format {output_format} always gives everything")
    return "brief" if brief else "full" if full else "default"


def print_assessment(
    assessment: Assessment,
    output_format: str,
    vocabulary: Vocabulary | None = None,
    detail: Detail = "default",
    *,
    patient_id: str | None = None,
) -> None:
    if output_format == "fhir":
        from calfrules.formats.fhir import to_fhir_bundle

        print_json(to_fhir_bundle(assessment, patient_id=patient_id))
        return
    if output_format == "json":
        click.echo(assessment.to_json(indent=2))  # the same text as print_json(to_dict()), faster
        return
    from rich.console import Console

    from calfrules.formats.text import WIDTH, render_lines

    class StandardOutput(Console):
        def on_broken_pipe(self) -> None:
            # rich exits 1 when the reader goes away (`| head`); the command group stops
            # quietly with 0 instead, as for every other command
            raise BrokenPipeError

    console = StandardOutput(highlight=False, soft_wrap=True)
    # wrapped here, at most 100 columns; a narrower terminal gets its own width
    width = min(console.width, WIDTH) if console.is_terminal else WIDTH
    for text, style in render_lines(assessment, vocabulary, detail=detail, width=width):
        console.print(text, style=style or None, markup=False)


def assess_batch(
    ctx: click.Context,
    source: str,
    jobs: int | None,
    output_format: str,
    audit: bool,
    audit_db: str | None,
    screen: str,
    detail: Detail = "default",
) -> None:
    from calfrules.cli.batch import run_batch_command

    if output_format == "fhir":
        raise CalfrulesError("--format fhir is for one case; a batch prints JSON Lines (or text with --format text)")
    engine: Engine | None
    if audit or audit_db:  # one audit trail, written from this process
        from calfrules.cli.audit import attach_audit

        engine = load_cli_engine(ctx, screen=screen)
        attach_audit(ctx, engine, audit_db)
    else:
        # the workers load their own engines; this one checks the named files and warns once
        load_cli_engine(ctx, screen=screen, isolation="none").close()
        engine = None
    failed = run_batch_command(
        named_rulesets(ctx),
        source,
        jobs,
        engine,
        screen=screen,
        text_detail=detail if output_format == "text" else None,
    )
    if failed:
        ctx.exit(EXIT_BAD_INPUT)
