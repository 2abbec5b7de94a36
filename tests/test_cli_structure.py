"""The CLI package's shape: a shared module, command modules, no import cycles, help that works."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from click.testing import CliRunner

import calfrules.cli
from calfrules.cli import cli, main

CLI_DIR = Path(calfrules.cli.__file__).parent
COMMAND_MODULES = sorted(p for p in CLI_DIR.glob("*.py") if p.name != "__init__.py")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", COMMAND_MODULES, ids=lambda p: p.name)
def test_no_command_module_imports_the_cli_package(path: Path) -> None:
    """They import calfrules.cli._common (or a sibling), never the package that imports them."""
    assert "calfrules.cli" not in imported_modules(path)


@pytest.mark.parametrize("path", [*COMMAND_MODULES, CLI_DIR / "__init__.py"], ids=lambda p: p.name)
def test_no_cli_module_is_over_400_lines(path: Path) -> None:
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 400


@pytest.mark.parametrize("module", [p.stem for p in COMMAND_MODULES])
def test_each_module_imports_first_on_its_own(module: str) -> None:
    """A cycle shows when a command module is the first one imported."""
    code = f"import calfrules.cli.{module}; import calfrules.cli; print(len(calfrules.cli.cli.commands))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == len(cli.commands)


def test_the_root_group_has_every_command() -> None:
    expected = {"assess", "check", "test", "plugins", "vocab", "safety", "screen", "export", "schema", "audit"}
    expected |= {"new-pack"}
    assert expected | {"serve", "tui"} == set(cli.commands)


def test_the_console_script_is_main() -> None:
    [script] = [ep for ep in metadata.entry_points(group="console_scripts") if ep.name == "calfrules"]
    assert script.value == "calfrules.cli:main" and script.load() is main


def test_python_dash_m_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "calfrules", "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0 and done.stdout.startswith("calfrules, version ")


def help_text(*command: str) -> str:
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0
    return result.output


@pytest.mark.parametrize("command", [[], *([name] for name in sorted(cli.commands))])
def test_help_examples_need_no_file_from_the_source_tree(command: list[str]) -> None:
    """An installed package ships no examples/ folder: help must not send people there."""
    assert "examples/" not in help_text(*command)


def test_the_stdin_example_in_the_help_runs_as_shown() -> None:
    line = next(line for line in help_text().splitlines() if "| calfrules assess -" in line)
    case = re.search(r"echo '(.*)' \|", line)
    assert case is not None
    done = subprocess.run(
        [sys.executable, "-m", "calfrules", "assess", "-", "--json"],
        input=case.group(1),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["findings"] == {"calf_pain": True}
