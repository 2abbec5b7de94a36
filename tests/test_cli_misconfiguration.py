"""Misconfiguration is one error line and exit 2, never a quiet default; and the CLI's paper cuts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from calfrules.cli import cli

EXAMPLES = Path(__file__).parent.parent / "examples" / "cases"
CASE = '{"findings": {"calf_pain": true}}'
NO_TITLE = 'id = "broken"\nversion = "1"\n'
UNKNOWN_ID = (
    'id = "typo"\nversion = "1"\ntitle = "t"\n'
    '[[rules]]\nid = "r"\nwhen = "calf_pian"\nescalate = "urgent"\nrationale = "x"\n'
)
CUT_SHORT = (
    'id = "short"\nversion = "1"\ntitle = "t"\n'
    '[[rules]]\nid = "r"\nwhen = "calf_pain and"\nescalate = "urgent"\nrationale = "x"\n'
)


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def assert_one_error(code: int, out: str, err: str, *words: str) -> None:
    assert code == 2 and out == "", (code, out, err)
    assert err.count("\n") == 1 and err.startswith("calfrules: error: "), err
    for word in words:
        assert word in err, err


# --- vocab --group, test --only -------------------------------------------------------


def test_an_unknown_vocab_group_names_the_groups() -> None:
    assert_one_error(*run("vocab", "--group", "nosuch"), "'nosuch'", "no such group", "pain", "red_flags")
    assert_one_error(*run("vocab", "--group", "swelin", "--json"), "did you mean swelling")


def test_a_known_vocab_group_lists_only_its_findings() -> None:
    code, out, _ = run("vocab", "--group", "swelling", "--json")
    findings = json.loads(out)
    assert code == 0 and findings and {f["group"] for f in findings} == {"swelling"}


def test_an_unknown_only_ruleset_names_the_rulesets() -> None:
    code, out, err = run("test", "--only", "nonexistent")
    assert_one_error(code, out, err, "--only 'nonexistent'", "no such ruleset", "strains")
    assert "0 passed" not in out
    code, out, err = run("test", "--only", "strain")
    assert_one_error(code, out, err, "did you mean strains")


def test_a_known_only_ruleset_runs_its_cases() -> None:
    code, out, _ = run("test", "--only", "strains", "--json")
    results = json.loads(out)["results"]
    assert code == 0 and results and {r["ruleset"] for r in results} == {"strains"}


# --- a ruleset file the user named must load ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (NO_TITLE, ["ruleset: missing 'title'"]),
        (UNKNOWN_ID, ["rule r: column 1", "unknown id 'calf_pian'", "did you mean calf_pain"]),
        (CUT_SHORT, ["rule r: column 14", "the condition ends too early"]),
    ],
    ids=["load", "compile", "parse"],
)
@pytest.mark.parametrize("command", [["assess", "-"], ["vocab"], ["plugins"], ["export", "--clips"], ["screen"]])
def test_a_named_ruleset_that_fails_is_an_error(
    tmp_path: Path, text: str, words: list[str], command: list[str]
) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    code, out, err = run("-r", str(path), *command, stdin=CASE)
    assert_one_error(code, out, err, f"calfrules: error: {path}: ", *words)


def test_a_missing_named_ruleset_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    assert_one_error(*run("-r", str(missing), "assess", "-", stdin=CASE), f"{missing}: cannot read")


def test_ruleset_files_given_to_test_must_load_too(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(NO_TITLE, encoding="utf-8")
    assert_one_error(*run("test", str(path)), "missing 'title'")


def test_check_still_reports_every_problem_rather_than_refusing(tmp_path: Path) -> None:
    """check is where a broken file is examined: it lists each problem and exits 1."""
    first, second = tmp_path / "a.toml", tmp_path / "b.toml"
    first.write_text(NO_TITLE, encoding="utf-8")
    second.write_text(UNKNOWN_ID, encoding="utf-8")
    code, out, _ = run("-r", str(first), "check", "--no-safety", str(second))
    assert code == 1 and f"problem: {first}: ruleset" in out and f"problem: {second}: rule r" in out


def test_a_good_named_ruleset_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(UNKNOWN_ID.replace("calf_pian", "calf_pain"), encoding="utf-8")
    code, out, err = run("-r", str(path), "assess", "-", "--json", stdin=CASE)
    fired = [(step["rule"]["ruleset"], step["rule"]["rule"]) for step in json.loads(out)["trace"]]
    assert code == 0 and ("typo", "r") in fired and "error" not in err


# --- output options -------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["fhir", "text"])
def test_json_and_another_format_conflict(fmt: str) -> None:
    assert_one_error(*run("assess", "-", "--json", "--format", fmt, stdin=CASE), "--json", f"--format {fmt}")


def test_json_and_format_json_agree() -> None:
    code, out, _ = run("assess", "-", "--json", "--format", "json", stdin=CASE)
    assert code == 0 and json.loads(out)["findings"] == {"calf_pain": True}


def test_a_batch_as_text_prints_each_case_as_assess_would(tmp_path: Path) -> None:
    for path in EXAMPLES.iterdir():
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "zz_broken.json").write_text('{"findings": {}}', encoding="utf-8")
    code, out, err = run("assess", str(tmp_path), "--format", "text", "--jobs", "2")
    blocks = out.split("\n\n== ")
    assert code == 2 and len(blocks) == len(list(EXAMPLES.iterdir())) + 1
    for block, name in zip(blocks, sorted(p.name for p in EXAMPLES.iterdir()), strict=False):
        header, _, text = block.removeprefix("== ").partition("\n")
        assert header == f"{tmp_path / name} =="
        one_code, one_out, _ = run("assess", str(tmp_path / name))
        assert one_code == 0 and text.rstrip("\n") == one_out.rstrip("\n")
        assert not text.lstrip().startswith("{")  # not JSON
    header, _, text = blocks[-1].partition("\n")
    assert header == f"{tmp_path / 'zz_broken.json'} ==" and text.startswith("error: the case is empty")
    assert "zz_broken.json: the case is empty" in err


def test_a_batch_defaults_to_json_lines(tmp_path: Path) -> None:
    cases = tmp_path / "cases.jsonl"
    cases.write_text(CASE + "\n" + CASE + "\n", encoding="utf-8")
    for extra in ([], ["--json"], ["--format", "json"]):
        code, out, _ = run("assess", str(cases), *extra)
        assert code == 0 and [json.loads(line)["line"] for line in out.splitlines()] == [1, 2], extra


def test_an_empty_path_is_not_the_current_folder() -> None:
    assert_one_error(*run("assess", ""), "PATH is empty")


def test_control_characters_in_an_error_are_escaped_onto_one_line() -> None:
    assert_one_error(*run("assess", "case\r\x1b[2J.json"), "case\\r\\x1b[2J.json: no such file")
