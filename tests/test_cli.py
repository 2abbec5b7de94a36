from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from calfrules.cli import cli

EXAMPLES = Path(__file__).parent.parent / "examples" / "cases"


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("path", sorted(EXAMPLES.iterdir()), ids=lambda p: p.name)
def test_assess_prints_the_level_first(path: Path) -> None:
    code, out, _ = run("assess", str(path))
    assert code == 0
    assert out.splitlines()[0].startswith("LEVEL: ")
    assert "Conditions considered" in out


def test_assess_json_is_the_assessment_dict() -> None:
    code, out, _ = run("assess", "-", "--json", stdin='{"findings": {"calf_pain": true, "fever": true}}')
    data = json.loads(out)
    assert code == 0 and data["level"] in ("self_care", "see_clinician", "urgent", "emergency")
    assert data["findings"] == {"calf_pain": True, "fever": True}


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ('{"findings": {"calf_pian": true}}', "did you mean calf_pain"),
        ('{"findings": {}}', "the case is empty"),
        ("{", "not valid JSON"),
        ('{"findings": {"pain_score": 42}}', "out of range"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(stdin: str, message: str) -> None:
    code, out, err = run("assess", "-", stdin=stdin)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("calfrules: error: ") and message in err
    assert "Traceback" not in err


def test_missing_file_is_a_clear_error() -> None:
    code, _, err = run("assess", "no/such/case.json")
    assert code == 2 and "no such file" in err


@pytest.mark.parametrize("command", ["plugins", "vocab", "safety"])
def test_listings_have_json(command: str) -> None:
    code, out, _ = run(command, "--json")
    assert code == 0 and isinstance(json.loads(out), list) and json.loads(out)


def test_vocab_json_lists_types_and_questions() -> None:
    entries = {e["id"]: e for e in json.loads(run("vocab", "--json")[1])}
    assert entries["pain_score"]["type"] == "number" and entries["pain_score"]["maximum"] == 10
    assert entries["calf_pain"]["question"].endswith("?")


def test_check_reports_a_broken_ruleset_with_location(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'id = "bad"\nversion = "1"\ntitle = "t"\n'
        '[[rules]]\nid = "r"\nwhen = "calf_pain and"\nescalate = "urgent"\nrationale = "x"\n'
    )
    code, out, _ = run("check", str(bad))
    assert code == 1 and f"{bad}: rule r: column 14" in out


def test_check_refuses_a_rule_that_hides_a_red_flag_and_says_which(tmp_path: Path) -> None:
    unsafe = tmp_path / "unsafe.toml"
    unsafe.write_text(
        'id = "unsafe"\nversion = "1"\ntitle = "t"\n'
        '[[floor]]\nid = "test_pair"\nwhen = "recent_trauma and hot_weather"\nlevel = "urgent"\n'
        'label = "Injured in the heat"\nrationale = "test"\n'
        '[[rules]]\nid = "r"\nwhen = "calf_pain and not hot_weather"\nescalate = "emergency"\nrationale = "x"\n'
    )
    code, out, _ = run("check", "--examples", "20", str(unsafe))
    assert code == 1
    unsafe_line = next(line for line in out.splitlines() if line.startswith("UNSAFE: "))
    assert "raises 'Injured in the heat' (urgent), yet the level falls: before emergency -> after urgent" in unsafe_line
    # the smallest case and what was added together make the pair true while the rule's calf pain stays
    case = json.loads(out.split("smallest case: ", 1)[1].splitlines()[0])["findings"]
    added = json.loads(out.split("then adding:   ", 1)[1].splitlines()[0])
    assert case.get("calf_pain") is True and "hot_weather" in added
    assert {**case, **added}.keys() >= {"calf_pain", "hot_weather", "recent_trauma"}
    assert "safety: FAILED" in out
    code, out, _ = run("check", "--json", "--examples", "20", str(unsafe))
    violation = json.loads(out)["safety"]["violations"][0]
    assert (violation["before"], violation["after"]) == ("emergency", "urgent")
    assert violation["raised"] == [{"id": "test_pair", "label": "Injured in the heat", "level": "urgent"}]


def test_check_passes_on_the_builtin_knowledge() -> None:
    code, out, _ = run("check", "--json")
    assert code == 0 and json.loads(out)["ok"] is True


def test_test_command_runs_golden_cases() -> None:
    code, out, _ = run("test", "--json")
    data = json.loads(out)
    assert data["passed"] > 0 and code == (0 if data["failed"] == 0 else 1)


def test_help_explains_commands() -> None:
    code, out, _ = run("--help")
    assert code == 0 and all(word in out for word in ("assess", "check", "test", "plugins", "vocab", "safety"))


def test_a_reader_that_stops_early_gets_no_error() -> None:
    # `calfrules audit list --json | head`: writing to a closed pipe ends quietly, exit 0
    import subprocess
    import sys

    code = (
        "import click\n"
        "from calfrules.cli import cli\n"
        "@cli.command()\n"
        "def gone() -> None:\n"
        "    raise BrokenPipeError(32, 'Broken pipe')\n"
        "cli(['gone'], prog_name='calfrules')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "error" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("args", [["assess", str(EXAMPLES / "sore_calves_after_layoff.json")], ["vocab"]])
def test_a_reader_that_goes_away_ends_the_command_quietly(args: list[str]) -> None:
    # `calfrules assess case.json | head -n 1`: the pipe is closed before anything is written,
    # so the write fails every time (no race with the reader)
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "calfrules", *args], stdout=write_end, stderr=subprocess.PIPE, timeout=120
        )
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (0, b"")
