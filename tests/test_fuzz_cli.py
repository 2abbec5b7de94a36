"""Fuzz the command line: any arguments and input end in a result, or one error line and exit 2.

Never a traceback or an internal error (exit 70). `check` (slow safety search) and `audit`
(writes an audit trail) are left to their own tests; `check --no-safety` is fuzzed here.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from calfrules.cli import cli

from conftest import IN_CI

COMMANDS = ["assess", "vocab", "safety", "plugins", "export", "test"]
OPTIONS = [
    "--json",
    "--clips",
    "-o",
    "--jobs",
    "-j",
    "--group",
    "--only",
    "-v",
    "-r",
    "--format",
    "--help",
    "--no-safety",
]
VALUES = ["-", "0", "-1", "2", "64", "5000", "99999999999999999999", "fhir", "json", "text", "pain", "red_flags"]
VALUES += ["nan", ""]
FILES = {
    "good.json": json.dumps({"findings": {"calf_pain": True}}),
    "bad.json": '{"findings": {"calf_pian": true}}',
    "deep.toml": "a = " + "[" * 50_000,
    "huge_int.json": '{"findings": {"pain_score": ' + "9" * 5000 + "}}",
    "nan.json": '{"findings": {"pain_score": NaN}}',
    "list.json": "[1, 2, 3]",
    "lines.jsonl": '{"findings": {"calf_pain": true}}\n{oops\n\n[]\n',
    "empty.jsonl": "",
    "rules.toml": 'id = "x"\nversion = "1"\ntitle = "t"\n[[rules]]\nid = "r"\nwhen = "not not"\nrationale = "r"\n',
    "bom.json": '\ufeff{"findings": {"fever": true}}',
}
BINARY = b"\xff\xfe\x00garbage\x80"
TOKENS = [*COMMANDS, *OPTIONS, *VALUES, *FILES, "binary.json", "folder", "missing.json", "missing.jsonl"]
stdin = st.one_of(
    st.none(), st.binary(max_size=200), st.text(st.characters(blacklist_categories=("Cs",)), max_size=200)
)
# mostly a command followed by its kind of arguments (so most runs get past parsing), sometimes anything
ARGUMENTS = [*OPTIONS, *VALUES, *FILES, "binary.json", "folder", "missing.json", "missing.jsonl"]
commands = st.builds(
    lambda command, rest: [command, *rest],
    st.sampled_from(COMMANDS),
    st.lists(st.sampled_from(ARGUMENTS), max_size=4),
)
argument_lists = commands | st.lists(st.sampled_from(TOKENS) | st.text(max_size=20), max_size=6)


def _files(folder: Path) -> None:
    for name, text in FILES.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "binary.json").write_bytes(BINARY)
    (folder / "folder").mkdir()
    (folder / "folder" / "a.json").write_text(FILES["good.json"], encoding="utf-8")
    (folder / "folder" / "b.toml").write_text("findings = 3", encoding="utf-8")


def check_invocation(args: list[str], text: str | bytes | None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        _files(Path(folder))
        cwd = os.getcwd()
        os.chdir(folder)
        try:
            result = CliRunner().invoke(cli, args, input=text)
        finally:
            os.chdir(cwd)
    event(f"exit {result.exit_code}")
    shown = f"args={args!r}\nstdout={result.stdout[-500:]!r}\nstderr={result.stderr[-500:]!r}"
    assert result.exception is None or isinstance(result.exception, SystemExit), (shown, result.exception)
    assert result.exit_code in (0, 1, 2), shown
    assert "Traceback" not in result.output and "internal error" not in result.stderr, shown
    if result.exit_code == 2 and result.stderr.startswith("Usage: "):  # no command given: click shows the help
        assert "Commands:" in result.stderr, shown
    elif result.exit_code == 2:
        errors = [line for line in result.stderr.splitlines() if line.startswith("calfrules: error: ")]
        assert errors, shown
        batch = any(a.endswith(".jsonl") or a == "folder" for a in args)
        if not batch:  # a batch reports one line per bad case, then a summary
            assert len(result.stderr.splitlines()) == 1, shown


@settings(
    max_examples=200 if IN_CI else 40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(args=argument_lists, text=stdin)
@example(args=["assess", "-"], text=BINARY)
@example(args=["assess", "-"], text="\ufeff" + FILES["good.json"])
@example(args=["assess", "deep.toml"], text=None)
@example(args=["assess", "huge_int.json", "--json"], text=None)
@example(args=["assess", "binary.json"], text=None)
@example(args=["assess", "folder", "--jobs", "2"], text=None)
@example(args=["assess", "lines.jsonl", "-j", "1"], text=None)
@example(args=["assess", "empty.jsonl"], text=None)
@example(args=["assess", "missing.jsonl"], text=None)
@example(args=["assess", "good.json", "--jobs", "99999999999999999999"], text=None)
@example(args=["assess", "folder", "--jobs", "99999999999999999999"], text=None)
@example(args=["assess", "lines.jsonl", "--jobs", "64"], text=None)
@example(args=["-r", "rules.toml", "vocab"], text=None)
@example(args=["-r", "deep.toml", "safety", "--json"], text=None)
@example(args=["-r", "folder", "plugins"], text=None)
@example(args=["export", "--clips", "-o", "folder"], text=None)
@example(args=["export", "--clips", "-o", "sub/dir/out.clp"], text=None)
@example(args=["test", "binary.json"], text=None)
@example(args=["check", "--no-safety", "--json", "deep.toml"], text=None)
@example(args=["vocab", "--group", "\x00"], text=None)
@example(args=["assess", "0\r"], text=None)  # a carriage return in a path printed a broken line
@example(args=["assess", "a", "\r"], text=None)  # the same in a usage error
@example(args=["assess", ""], text=None)  # an empty path was the current folder, assessed as a batch
def test_any_arguments_end_cleanly(args: list[str], text: str | bytes | None) -> None:
    if "check" in args and "--no-safety" not in args:
        args = [*args, "--no-safety"]
    check_invocation(args, text)


@pytest.mark.parametrize(
    "args",
    [["nosuch"], ["--bogus"], ["assess"], ["assess", "a", "b"], ["export", "-o"], ["assess", "-", "--jobs", "0"]],
)
def test_usage_errors_are_one_line(args: list[str]) -> None:
    """Click's usage errors used to print four lines (usage, hint, blank, error)."""
    result = CliRunner().invoke(cli, args, input="")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("calfrules: error: "), result.stderr
    assert "--help" in result.stderr
