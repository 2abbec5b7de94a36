"""What every command shares: exit codes, error handling, engine loading, JSON output, options.

Command modules import this, never ``calfrules.cli`` itself (that package only assembles
the commands), so there are no import cycles. Only click and the engine load here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from typing import Any

import click

from calfrules.engine.engine import Engine, Isolation, load_engine
from calfrules.engine.screening import SCREEN_POLICIES
from calfrules.rules.errors import CalfrulesError
from calfrules.rules.model import Ruleset

EXIT_FAILED = 1  # the command ran and the answer is "no" (a failed check, a changed replay)
EXIT_BAD_INPUT = 2  # bad input or misconfiguration: one `calfrules: error: ...` line
EXIT_INTERNAL = 70  # a bug: EX_SOFTWARE
EXIT_INTERRUPTED = 130


class ErrorReportingGroup(click.Group):
    """Turns our errors into one line on stderr and an exit status, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CalfrulesError as exc:
            click.echo(f"calfrules: error: {one_line(str(exc))}", err=True)
            ctx.exit(EXIT_BAD_INPUT)
        except click.UsageError as exc:
            report_usage_error(ctx, exc)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("calfrules: interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)
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
            ctx.exit(EXIT_INTERNAL)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            report_usage_error(ctx, exc)
            raise  # unreachable: report_usage_error exits


def report_usage_error(ctx: click.Context, exc: click.UsageError) -> None:
    """A wrong option or argument: one line saying what and where to look, exit 2."""
    if isinstance(exc, click.exceptions.NoArgsIsHelpError):
        raise exc  # click shows the help, as asked
    where = exc.ctx.command_path if exc.ctx is not None else "calfrules"
    click.echo(f"calfrules: error: {one_line(exc.format_message())} (see {where} --help)", err=True)
    ctx.exit(EXIT_BAD_INPUT)


def one_line(message: str) -> str:
    """The first line of a message (a ruleset error adds the condition and a caret below it).

    Control characters in it (from a file name, say) are shown escaped, so it stays one line.
    """
    first = message.strip().split("\n", 1)[0]
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in first)


# --- the engine ---------------------------------------------------------------------


def named_rulesets(ctx: click.Context) -> list[str]:
    """The ruleset files given with ``-r`` before the command."""
    return list((ctx.obj or {}).get("rulesets", []))


def load_cli_engine(
    ctx: click.Context,
    *,
    extra: Sequence[str] = (),
    screen: str = "prompt",
    isolation: Isolation = "process",
) -> Engine:
    """The engine with the built-in knowledge, installed plugins and the user's ruleset files.

    A file the user named (``-r`` or ``extra``) that does not load or compile is an error:
    they asked for it. What installed plugins contribute stays a warning, so one broken pack
    does not stop the rest (its problems also travel in every assessment's warnings).
    """
    files = [load_named_ruleset(path) for path in [*named_rulesets(ctx), *extra]]
    engine = load_engine(rulesets=files, screen=screen, isolation=isolation)  # type: ignore[arg-type]
    sources = tuple(f"{ruleset.source}: " for ruleset in files)
    theirs = [problem for problem in engine.problems if sources and problem.startswith(sources)]
    if theirs:
        engine.close()
        more = f" (and {len(theirs) - 1} more; `calfrules check FILE` lists them)" if len(theirs) > 1 else ""
        raise CalfrulesError(one_line(theirs[0]) + more)
    ctx.call_on_close(engine.close)
    for problem in engine.problems:
        click.echo(f"calfrules: warning: {problem}", err=True)
    return engine


def load_named_ruleset(path: str) -> Ruleset:
    from calfrules.knowledge import ruleset_io

    return ruleset_io.load(path)


# --- output and options -------------------------------------------------------------


def print_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def json_flag(help_text: str = "Print as JSON.") -> Callable[[Any], Any]:
    """``--json``: machine-readable output (the parameter is ``as_json``)."""
    return click.option("--json", "as_json", is_flag=True, help=help_text)


def screen_option(help_text: str) -> Callable[[Any], Any]:
    """``--screen prompt|require``: the red-flag screen policy (see load_engine)."""
    return click.option(
        "--screen", type=click.Choice(SCREEN_POLICIES), default="prompt", show_default=True, help=help_text
    )


SCREEN_OPTION = screen_option(
    "Red-flag screen policy: prompt lists unanswered screening questions and leaves the level; "
    "require (self-triage, patient-facing) keeps the level at see_clinician or above until they are answered."
)
