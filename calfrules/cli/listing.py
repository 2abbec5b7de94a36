"""What is loaded, listed: ``plugins``, ``vocab``, ``safety`` (the red-flag floor) and ``screen``."""

from __future__ import annotations

import click

from calfrules.cli._common import EXIT_FAILED, json_flag, load_cli_engine, print_json
from calfrules.rules.errors import CalfrulesError
from calfrules.rules.vocabulary import suggest


@click.command("plugins")
@json_flag("Print as JSON, with each plugin's problems and, for a failed one, its traceback.")
@click.option("-v", "--verbose", is_flag=True, help="Show where a failed plugin raised (its traceback).")
@click.pass_context
def plugins_cmd(ctx: click.Context, as_json: bool, verbose: bool) -> None:
    """List plugins: name, version, status (loaded, loaded with problems, failed, blocked, not allowed).

    Exit 1 when a plugin failed or any of its contributions was refused: its knowledge is
    missing, and every assessment says so (complete: false).
    """
    engine = load_cli_engine(ctx)
    plugins = engine.plugins
    if as_json:
        print_json([p.to_dict() for p in plugins])
    else:
        for p in plugins:
            error = f"  ({p.error})" if p.error else ""
            click.echo(f"{p.name:<18} {p.version or '-':<10} {p.status.replace('_', ' ')}{error}")
            for problem in p.problems:
                click.echo(f"{'':<4}refused: {problem}")
            if verbose and p.traceback:
                click.echo("\n".join(f"{'':<4}{line}" for line in p.traceback.splitlines()))
        broken = [p for p in plugins if p.broken]
        if broken and not verbose and any(p.traceback for p in broken):
            click.echo("(calfrules plugins --verbose shows where a failed plugin raised)")
    if any(p.broken for p in plugins):
        ctx.exit(EXIT_FAILED)


@click.command("vocab")
@json_flag()
@click.option("--group", help="Only this group (e.g. pain, swelling, red_flags).")
@click.pass_context
def vocab_cmd(ctx: click.Context, as_json: bool, group: str | None) -> None:
    """List the findings a case may carry, with type, range and question."""
    engine = load_cli_engine(ctx)
    if group is not None:
        groups = sorted({f.group for f in engine.vocabulary if f.group})
        if group not in groups:
            close = suggest(group, groups)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            raise CalfrulesError(f"--group {group!r}: no such group; {hint}groups: {', '.join(groups)}")
    findings = [f for f in engine.vocabulary if group is None or f.group == group]
    if as_json:
        print_json([f.to_dict() for f in findings])
        return
    for f in findings:
        kind = f.type if f.type != "number" else f"number, {f.range_text().removeprefix('use ')}"
        click.echo(f"{f.id:<38} {kind:<28} {f.question}")


@click.command("safety")
@json_flag()
@click.pass_context
def safety_cmd(ctx: click.Context, as_json: bool) -> None:
    """List the red-flag floor: each sign alone and each combination, with the level it guarantees.

    The floor is applied in plain Python after the rules, whatever they did: a case where an
    entry holds never comes out below that entry's level. Use ``calfrules screen`` for the
    questions to ask before self-care can stand.
    """
    from calfrules.tooling.red_flag_table import floor_rows

    engine = load_cli_engine(ctx)
    rows = floor_rows(engine)
    if as_json:
        print_json(rows)
        return
    for row in rows:
        # a citation ends with a full stop or not: joined, it never reads ".;"
        cited = "; ".join(source["citation"].rstrip(". ") for source in row["sources"]) or "no published source given"
        click.echo(f"{row['level']:<14} {row['label']}  [{row['kind']}]")
        click.echo(f"{'':<14} when {row['when']}\n{'':<14} source: {cited}")


@click.command("screen")
@json_flag()
@click.pass_context
def screen_cmd(ctx: click.Context, as_json: bool) -> None:
    """List the red-flag screen: per presenting group, the questions to answer before self-care."""
    from calfrules.tooling.red_flag_table import screen_rows

    engine = load_cli_engine(ctx)
    rows = screen_rows(engine)
    if as_json:
        print_json(rows)
        return
    for row in rows:
        default = " (when no other group applies)" if row["default"] else ""
        click.echo(f"{row['id']}: {row['label']}{default}\n  applies when {row['when']}")
        for question in row["questions"]:
            click.echo(f"  ? {question['question']}  [{question['id']}]")
