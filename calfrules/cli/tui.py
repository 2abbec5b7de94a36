"""``calfrules tui``: the admin TUI. Textual is imported only when the command runs."""

from __future__ import annotations

from pathlib import Path

import click

from calfrules.cli._common import named_rulesets
from calfrules.rules.errors import CalfrulesError


@click.command("tui")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@click.option(
    "--dir",
    "copy_dir",
    default="rulesets-local",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for editable copies of plugin rulesets; its *.toml files are opened too.",
)
@click.pass_context
def tui_cmd(ctx: click.Context, files: tuple[str, ...], copy_dir: str) -> None:
    """Open the admin TUI: browse, edit, test and safely save rulesets.

    \b
    FILES are ruleset files to edit (plus any given with -r). A plugin's ruleset opens
    read-only; press c to make an editable copy in --dir. F1 in the app shows every key.
    """
    try:
        import textual  # noqa: F401
    except ImportError:
        raise CalfrulesError("the TUI needs Textual: install calfrules[tui] (pip install 'calfrules[tui]')") from None
    from calfrules.tui.app import CalfrulesApp

    # the TUI opens broken files too: fixing them is what it is for
    extra: list[str | Path] = [*named_rulesets(ctx), *files]
    CalfrulesApp(extra, copy_dir).run()
