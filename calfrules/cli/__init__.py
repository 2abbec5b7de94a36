"""The ``calfrules`` command line: a thin layer over the public API."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from calfrules._version import __version__
from calfrules.cli.options import screen_option
from calfrules.engine.engine import Engine, load_engine
from calfrules.rules.errors import CalfrulesError

F = TypeVar("F", bound=Callable[..., Any])
EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


class _Group(click.Group):
    """Turns our errors into one line on stderr and an exit status, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CalfrulesError as exc:
            click.echo(f"calfrules: error: {exc}", err=True)
            ctx.exit(EXIT_BAD_INPUT)
        except click.UsageError as exc:
            _usage_error(ctx, exc)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("calfrules: interrupted", err=True)
            ctx.exit(130)
        except BrokenPipeError:  # the reader went away (`calfrules audit list | head`): stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            ctx.exit(0)
        except Exception as exc:
            if os.environ.get("CALFRULES_DEBUG"):
                raise
            click.echo(
                f"calfrules: internal error: {type(exc).__name__}: {exc} (set CALFRULES_DEBUG=1 for details)",
                err=True,
            )
            ctx.exit(70)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            _usage_error(ctx, exc)
            raise  # unreachable: _usage_error exits


def _usage_error(ctx: click.Context, exc: click.UsageError) -> None:
    """A wrong option or argument: one line saying what and where to look, exit 2."""
    if isinstance(exc, click.exceptions.NoArgsIsHelpError):
        raise exc  # click shows the help, as asked
    where = exc.ctx.command_path if exc.ctx is not None else "calfrules"
    click.echo(f"calfrules: error: {exc.format_message()} (see {where} --help)", err=True)
    ctx.exit(EXIT_BAD_INPUT)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="calfrules")
@click.option(
    "-r",
    "--ruleset",
    "rulesets",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Extra ruleset TOML file (repeatable). One with a built-in ruleset's id replaces it.",
)
@click.pass_context
def cli(ctx: click.Context, rulesets: tuple[str, ...]) -> None:
    """Clinical decision support for calf and lower-leg pain in runners.

    \b
    Examples:
      calfrules assess examples/cases/sore_calves_after_layoff.json
      echo '{"findings": {"calf_pain": true}}' | calfrules assess - --json
      calfrules test            run every ruleset's golden cases
      calfrules safety --json   the red-flag floor
    """
    ctx.obj = {"rulesets": list(rulesets)}


def _engine(ctx: click.Context, *, extra: tuple[str, ...] = (), screen: str = "prompt") -> Engine:
    engine = load_engine(rulesets=[*ctx.obj["rulesets"], *extra], screen=screen)  # type: ignore[arg-type]
    for problem in engine.problems:
        click.echo(f"calfrules: warning: {problem}", err=True)
    return engine


SCREEN_OPTION = screen_option(
    "Red-flag screen policy: prompt lists unanswered screening questions and leaves the level; "
    "require (self-triage, patient-facing) keeps the level at see_clinician or above until they are answered."
)


def _print_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


@cli.command()
@click.argument("case", metavar="PATH|-")
@click.option("--json", "as_json", is_flag=True, help="Print the full assessment as JSON (Assessment.to_dict()).")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "fhir"]),
    default="text",
    show_default=True,
    help="text for people; json as --json; fhir: a FHIR R4 Bundle (GuidanceResponse, RiskAssessment, Provenance).",
)
@click.option("--audit", is_flag=True, help="Record it in the audit trail ($CALFRULES_AUDIT, else the default file).")
@click.option("--audit-db", metavar="URL", help="Record it in this audit trail (implies --audit; see `audit -h`).")
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1, max=64),
    help="Batch: worker processes (default: every core; 1 with --audit).",
)
@SCREEN_OPTION
@click.pass_context
def assess(
    ctx: click.Context,
    case: str,
    as_json: bool,
    output_format: str,
    audit: bool,
    audit_db: str | None,
    jobs: int | None,
    screen: str,
) -> None:
    """Assess one case file (JSON or TOML; - reads standard input), or a batch.

    A case looks like {"id": "optional", "findings": {"calf_pain": true, "pain_score": 4}}.
    Exit status 2 with a one-line error for bad input.

    \b
    Batch: PATH a folder (every *.json and *.toml in it) or a .jsonl file (one case per
    line) prints JSON Lines, one {"source", "line", "ok", "assessment" | "error"} per case in
    input order, over --jobs processes; bad cases are reported and skipped, exit 2 at the end.
    """
    from calfrules.cli.batch import is_batch_source

    if is_batch_source(case):
        _assess_batch(ctx, case, jobs, output_format, audit, audit_db, screen)
        return
    from calfrules.knowledge.case import read_case_source

    data = read_case_source(case)
    engine = _engine(ctx, screen=screen)
    if audit or audit_db:
        from calfrules.cli.audit import attach_audit

        attach_audit(ctx, engine, audit_db)
    assessment = engine.assess(data)  # type: ignore[arg-type]
    if output_format == "fhir":
        from calfrules.formats.fhir import to_fhir_bundle

        _print_json(to_fhir_bundle(assessment))
        return
    if as_json or output_format == "json":
        _print_json(assessment.to_dict())
        return
    from rich.console import Console

    from calfrules.formats.text import render_lines

    console = Console(highlight=False, soft_wrap=True)
    for text, style in render_lines(assessment):
        console.print(text, style=style or None, markup=False)


def _assess_batch(
    ctx: click.Context,
    source: str,
    jobs: int | None,
    output_format: str,
    audit: bool,
    audit_db: str | None,
    screen: str,
) -> None:
    from calfrules.cli.batch import run_batch_command

    if output_format == "fhir":
        raise CalfrulesError("--format fhir is for one case; a batch prints JSON Lines of assessments")
    engine = None
    if audit or audit_db:  # one audit trail, written from this process
        from calfrules.cli.audit import attach_audit

        engine = _engine(ctx, screen=screen)
        attach_audit(ctx, engine, audit_db)
    if run_batch_command(ctx.obj["rulesets"], source, jobs, engine, screen=screen):
        ctx.exit(EXIT_BAD_INPUT)


@cli.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--no-safety", is_flag=True, help="Skip the red-flag safety search (validation only).")
@click.option(
    "--examples", default=400, show_default=True, help="Random cases the safety search tries after the targeted search."
)
@click.pass_context
def check(ctx: click.Context, files: tuple[str, ...], as_json: bool, no_safety: bool, examples: int) -> None:
    """Validate rulesets (the built-in ones plus FILES) and run the red-flag safety gate.

    The gate searches for a case where adding a red-flag finding lowers the level, and
    refuses the rulesets if it finds one, printing the smallest such case.
    """
    # in-process for speed: the compiler already keeps durable_rules clear of its hazards
    engine = load_engine(rulesets=[*ctx.obj["rulesets"], *files], isolation="none")
    problems = engine.problems
    safety = None
    if not no_safety:
        from calfrules.tooling.safety import check_engine

        safety = check_engine(engine, max_examples=examples)
    unsafe = safety is not None and not safety.ok
    summary = {
        "ok": not problems and not unsafe,
        "problems": problems,
        "safety": safety.to_dict() if safety else None,
        "rulesets": [
            {
                "id": e.ruleset.id,
                "version": e.ruleset.version,
                "rules": len(e.ruleset.rules),
                "source": e.ruleset.source,
            }
            for e in engine.rulesets
        ],
        "rules_compiled": len(engine.program.rules),
    }
    if as_json:
        _print_json(summary)
    else:
        for problem in problems:
            click.echo(f"problem: {problem}")
        if safety is not None:
            for violation in safety.violations:
                click.echo(f"UNSAFE: {violation['message']}")
                click.echo(f"  smallest case: {json.dumps(violation['case'])}")
                click.echo(f"  then adding:   {json.dumps(violation['added'])}")
                click.echo(f"  rules that stop firing: {', '.join(violation['rules_lost']) or '-'}")
            click.echo(
                f"safety: {'passed' if safety.ok else 'FAILED'} ({safety.cases_tried} cases in {safety.seconds:.1f} s)"
            )
        click.echo(
            f"{'OK' if summary['ok'] else 'FAILED'}: {len(engine.rulesets)} rulesets, "
            f"{len(engine.program.rules)} rules compiled, {len(problems)} problem(s)"
        )
    if not summary["ok"]:
        ctx.exit(EXIT_FAILED)


@cli.command("test")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--only", "only", multiple=True, help="Run only this ruleset id (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@click.option("-v", "--verbose", is_flag=True, help="List passing cases too.")
@click.pass_context
def test_cmd(ctx: click.Context, files: tuple[str, ...], only: tuple[str, ...], as_json: bool, verbose: bool) -> None:
    """Run the golden cases of every ruleset (or --only some) against the whole engine."""
    from calfrules.tooling.goldens import run_all

    engine = _engine(ctx, extra=files)
    results = run_all(engine, list(only) or None)
    failed = [r for r in results if not r.passed]
    if as_json:
        _print_json(
            {"passed": len(results) - len(failed), "failed": len(failed), "results": [r.to_dict() for r in results]}
        )
    else:
        for r in results:
            if r.passed and not verbose:
                continue
            click.echo(f"{'PASS' if r.passed else 'FAIL'} {r.ruleset}/{r.test} [{r.level}]")
            for diff in r.differences:
                click.echo(f"    {diff}")
        click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed or not results:
        ctx.exit(EXIT_FAILED)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def plugins(ctx: click.Context, as_json: bool) -> None:
    """List plugins: name, version, status (loaded, failed, blocked)."""
    engine = _engine(ctx)
    infos = [p.to_dict() for p in engine.plugins]
    if as_json:
        _print_json(infos)
        return
    for p in infos:
        error = f"  ({p['error']})" if p["error"] else ""
        click.echo(f"{p['name']:<18} {p['version'] or '-':<10} {p['status']}{error}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--group", help="Only this group (e.g. pain, swelling, red_flags).")
@click.pass_context
def vocab(ctx: click.Context, as_json: bool, group: str | None) -> None:
    """List the findings a case may carry, with type, range and question."""
    engine = _engine(ctx)
    findings = [f for f in engine.vocabulary if group is None or f.group == group]
    if as_json:
        _print_json([f.to_dict() for f in findings])
        return
    for f in findings:
        kind = f.type if f.type != "number" else f"number, {f.range_text().removeprefix('use ')}"
        click.echo(f"{f.id:<38} {kind:<28} {f.question}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def safety(ctx: click.Context, as_json: bool) -> None:
    """List the red-flag floor: each sign alone and each combination, with the level it guarantees.

    The floor is applied in plain Python after the rules, whatever they did: a case where an
    entry holds never comes out below that entry's level. Use ``calfrules screen`` for the
    questions to ask before self-care can stand.
    """
    from calfrules.tooling.red_flag_table import floor_rows

    rows = floor_rows(_engine(ctx))
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        cited = "; ".join(source["citation"] for source in row["sources"]) or "no published source given"
        click.echo(f"{row['level']:<14} {row['label']}  [{row['kind']}]")
        click.echo(f"{'':<14} when {row['when']}\n{'':<14} source: {cited}")


@cli.command("screen")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def screen_cmd(ctx: click.Context, as_json: bool) -> None:
    """List the red-flag screen: per presenting group, the questions to answer before self-care."""
    from calfrules.tooling.red_flag_table import screen_rows

    rows = screen_rows(_engine(ctx))
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        default = " (when no other group applies)" if row["default"] else ""
        click.echo(f"{row['id']}: {row['label']}{default}\n  applies when {row['when']}")
        for question in row["questions"]:
            click.echo(f"  ? {question['question']}  [{question['id']}]")


# --- commands that live in their own modules (each imports its heavy dependencies lazily) ---
# One line per module: cli.add_command(...). Keep `import calfrules.cli` free of textual/fastapi.
from calfrules.cli.export import export_cmd  # noqa: E402

cli.add_command(export_cmd)
from calfrules.cli.audit import audit_group  # noqa: E402

cli.add_command(audit_group)
from calfrules.cli.schema import schema_cmd  # noqa: E402

cli.add_command(schema_cmd)
from calfrules.cli.serve import serve_cmd  # noqa: E402

cli.add_command(serve_cmd)
from calfrules.cli.tui import tui as tui_cmd  # noqa: E402

cli.add_command(tui_cmd)


def main() -> None:
    cli(prog_name="calfrules")


if __name__ == "__main__":
    main()
