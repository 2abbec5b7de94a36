"""``calfrules check`` (validate rulesets, run the safety gate) and ``calfrules test`` (golden cases)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import click

from calfrules.cli._common import EXIT_FAILED, json_flag, load_cli_engine, named_rulesets, print_json
from calfrules.engine.engine import Engine, load_engine
from calfrules.rules.errors import CalfrulesError
from calfrules.rules.vocabulary import suggest


@click.command("check")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@json_flag("Print the result as JSON.")
@click.option("--no-safety", is_flag=True, help="Skip the red-flag safety search (validation only).")
@click.option(
    "--examples", default=400, show_default=True, help="Random cases the safety search tries after the targeted search."
)
@click.pass_context
def check_cmd(ctx: click.Context, files: tuple[str, ...], as_json: bool, no_safety: bool, examples: int) -> None:
    """Validate rulesets (the built-in ones plus FILES) and run the red-flag safety gate.

    The gate searches for a case where adding a red-flag finding lowers the level, and
    refuses the rulesets if it finds one, printing the smallest such case. Problems in
    FILES are reported here (exit 1) rather than refused as by other commands.
    """
    # in-process for speed: the compiler already keeps durable_rules clear of its hazards
    engine = load_engine(rulesets=[*named_rulesets(ctx), *files], isolation="none")
    ctx.call_on_close(engine.close)
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
        print_json(summary)
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


@click.command("test")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--only", "only", multiple=True, metavar="RULESET", help="Run only this ruleset id (repeatable).")
@json_flag("Print results as JSON.")
@click.option("-v", "--verbose", is_flag=True, help="List passing cases too.")
@click.pass_context
def test_cmd(ctx: click.Context, files: tuple[str, ...], only: tuple[str, ...], as_json: bool, verbose: bool) -> None:
    """Run the golden cases of every ruleset (or --only some) against the whole engine.

    Exit 1 when a case fails, or could not run: its ruleset was refused or its plugin
    failed to load (each such case is listed, with why).
    """
    from calfrules.tooling.goldens import run_all, unloaded

    engine = load_cli_engine(ctx, extra=files)
    check_ruleset_ids(engine, only, also=[r.ruleset for r in unloaded(engine)])
    results = run_all(engine, list(only) or None)
    failed = [r for r in results if not r.passed]
    not_run = [r for r in failed if any(d.startswith("could not run") for d in r.differences)]
    if as_json:
        print_json(
            {
                "passed": len(results) - len(failed),
                "failed": len(failed),
                "not_run": len(not_run),
                "results": [r.to_dict() for r in results],
            }
        )
    else:
        for r in results:
            if r.passed and not verbose:
                continue
            click.echo(f"{'PASS' if r.passed else 'FAIL'} {r.ruleset}/{r.test} [{r.level}]")
            for diff in r.differences:
                click.echo(f"    {diff}")
        could_not = f" ({len(not_run)} could not run)" if not_run else ""
        click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed{could_not}")
    if failed or not results:
        ctx.exit(EXIT_FAILED)


def check_ruleset_ids(engine: Engine, wanted: tuple[str, ...], also: Sequence[str] = ()) -> None:
    """An --only id that names no loaded ruleset (nor one in ``also``) is a typo, not an empty selection."""
    known = list(dict.fromkeys([*(entry.ruleset.id for entry in engine.rulesets), *also]))
    for ruleset_id in wanted:
        if ruleset_id not in known:
            close = suggest(ruleset_id, known)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            raise CalfrulesError(f"--only {ruleset_id!r}: no such ruleset; {hint}loaded: {', '.join(sorted(known))}")
