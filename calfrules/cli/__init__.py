"""The ``calfrules`` command line: a thin layer over the public API.

This package only assembles the root group from the command modules; what they share
(error handling, exit codes, engine loading, output) is in ``_common``. Command modules
import their heavy dependencies (rich, Textual, FastAPI) inside the command, so
``import calfrules.cli`` stays light.
"""

from __future__ import annotations

import click

from calfrules._version import __version__
from calfrules.cli._common import ErrorReportingGroup
from calfrules.cli.assess import assess_cmd
from calfrules.cli.audit import audit_group
from calfrules.cli.check import check_cmd, test_cmd
from calfrules.cli.export import export_cmd
from calfrules.cli.listing import plugins_cmd, safety_cmd, screen_cmd, vocab_cmd
from calfrules.cli.new_pack import new_pack_cmd
from calfrules.cli.schema import schema_cmd
from calfrules.cli.serve import serve_cmd
from calfrules.cli.tui import tui_cmd


@click.group(cls=ErrorReportingGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="calfrules")
@click.option(
    "-r",
    "--ruleset",
    "rulesets",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Extra ruleset TOML file (repeatable). One with a built-in ruleset's id replaces it. "
    "A file that does not load is an error.",
)
@click.pass_context
def cli(ctx: click.Context, rulesets: tuple[str, ...]) -> None:
    """Clinical decision support for calf and lower-leg pain in runners.

    \b
    Examples:
      echo '{"findings": {"calf_pain": true}}' | calfrules assess -
      calfrules assess case.json --json
      calfrules vocab           the findings a case may carry
      calfrules test            run every ruleset's golden cases
      calfrules safety --json   the red-flag floor
      calfrules new-pack NAME   write a rule pack ready to install and test
    """
    ctx.obj = {"rulesets": list(rulesets)}


for command in (
    assess_cmd,
    check_cmd,
    test_cmd,
    plugins_cmd,
    vocab_cmd,
    safety_cmd,
    screen_cmd,
    export_cmd,
    schema_cmd,
    new_pack_cmd,
    audit_group,
    serve_cmd,
    tui_cmd,
):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="calfrules")


__all__ = ["cli", "main"]
