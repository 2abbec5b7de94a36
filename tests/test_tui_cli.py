"""`calfrules tui`: registered, lazy about Textual, one clear line when Textual is missing."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from calfrules.cli import cli


def test_tui_is_a_command_with_help() -> None:
    result = CliRunner().invoke(cli, ["tui", "--help"])
    assert result.exit_code == 0
    assert "--dir" in result.output and "editable copy" in result.output


def test_without_textual_the_command_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "textual", None)  # import textual now raises ImportError
    result = CliRunner().invoke(cli, ["tui"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("calfrules: error: ") and "calfrules[tui]" in lines[0]


def test_the_headless_parts_never_import_textual() -> None:
    code = (
        "import sys, calfrules.cli, calfrules.engine.why_not, calfrules.tui.workspace, calfrules.tui.saving, "
        "calfrules.tui.names; print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
