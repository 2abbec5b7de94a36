"""Batch mode: `calfrules assess DIR` / `calfrules assess cases.jsonl` print JSON Lines in input order."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from calfrules.cli import cli

EXAMPLES = Path(__file__).parent.parent / "examples" / "cases"
CASES = [
    {"id": "a", "findings": {"calf_pain": True, "sudden_sharp_pain": True}},
    {"findings": {"calf_pain": True, "swelling_unilateral": True, "calf_circumference_diff_cm": 3.5}},
    {"findings": {"cramp_during_run": True}},
    {"findings": {"chest_pain": True, "shortness_of_breath": True}},
    {"findings": {"pain_score": 4, "calf_tightness": True}},
]


def invoke(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def records(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def one_at_a_time(case: dict[str, Any]) -> dict[str, Any]:
    code, out, err = invoke("assess", "-", "--json", stdin=json.dumps(case))
    assert code == 0, err
    result: dict[str, Any] = json.loads(out)
    return result


@pytest.fixture
def jsonl(tmp_path: Path) -> Path:
    lines = [json.dumps(case) for case in CASES[:2]]
    lines += ["{oops", "", "[1, 2]", '{"findings": {"pain_score": NaN}}', '{"findings": {"calf_pian": true}}']
    lines += [json.dumps(case) for case in CASES[2:]]
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_jsonl_results_are_identical_to_one_at_a_time_and_bad_lines_do_not_stop_it(jsonl: Path, jobs: str) -> None:
    code, out, err = invoke("assess", str(jsonl), "--jobs", jobs)
    assert code == 2
    got = records(out)
    assert [r["line"] for r in got] == [1, 2, 3, 5, 6, 7, 8, 9, 10]  # blank line 4 skipped, input order kept
    assert all(r["source"] == str(jsonl) for r in got)
    good = [r["assessment"] for r in got if r["ok"]]
    assert good == [one_at_a_time(case) for case in CASES]
    bad = {r["line"]: r["error"] for r in got if not r["ok"]}
    assert set(bad) == {3, 5, 6, 7}
    assert "not valid JSON" in bad[3] and "not list" in bad[5] and "NaN" in bad[6] and "calf_pain" in bad[7]
    # each failure is one line on stderr naming file:line, then a summary line
    lines = err.splitlines()
    for number in bad:
        assert sum(f"{jsonl}:{number}: " in line for line in lines) == 1
    assert lines[-1] == "calfrules: 4 of 9 cases failed" and "Traceback" not in err


def test_jobs_do_not_change_the_output(jsonl: Path) -> None:
    outputs = {invoke("assess", str(jsonl), "--jobs", jobs)[1] for jobs in ("1", "2", "3")}
    assert len(outputs) == 1


def test_a_folder_is_assessed_file_by_file_in_name_order(tmp_path: Path) -> None:
    for path in EXAMPLES.iterdir():
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "zz_broken.json").write_text('{"findings": {}}', encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a case", encoding="utf-8")
    code, out, err = invoke("assess", str(tmp_path))
    got = records(out)
    names = [*sorted(p.name for p in EXAMPLES.iterdir()), "zz_broken.json"]
    assert [Path(r["source"]).name for r in got] == names
    assert all(r["line"] is None for r in got)
    for record in got[:-1]:
        code_one, out_one, _ = invoke("assess", record["source"], "--json")
        assert code_one == 0 and record["assessment"] == json.loads(out_one)
    assert got[-1]["ok"] is False and "the case is empty" in got[-1]["error"]
    assert code == 2 and "zz_broken.json: the case is empty" in err


def test_a_clean_batch_exits_0(tmp_path: Path) -> None:
    path = tmp_path / "ok.ndjson"
    path.write_text("".join(json.dumps(case) + "\n" for case in CASES), encoding="utf-8")
    code, out, err = invoke("assess", str(path), "--jobs", "2")
    assert code == 0 and err == "" and len(records(out)) == len(CASES)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--jobs", "0"], "--jobs"),
        (["--jobs", "99999999999999999999"], "--jobs"),  # was an OverflowError (internal error, exit 70)
        (["--jobs", "65"], "--jobs"),
        (["--format", "fhir"], "fhir"),
    ],
)
def test_bad_batch_options_are_one_line(jsonl: Path, args: list[str], message: str) -> None:
    code, out, err = invoke("assess", str(jsonl), *args)
    assert code == 2 and out == "" and err.count("\n") == 1 and message in err


def test_an_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    code, out, err = invoke("assess", str(tmp_path))
    assert code == 2 and out == "" and "no cases to assess" in err and err.count("\n") == 1


def test_a_missing_jsonl_file_is_a_clear_error(tmp_path: Path) -> None:
    code, _, err = invoke("assess", str(tmp_path / "nope.jsonl"))
    assert code == 2 and "no such file" in err and err.count("\n") == 1


def test_a_broken_named_ruleset_stops_the_batch_before_any_case(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('id = "broken"\nversion = "1"\n', encoding="utf-8")
    cases = tmp_path / "cases.jsonl"
    cases.write_text("".join(json.dumps(case) + "\n" for case in CASES[:3]), encoding="utf-8")
    code, out, err = invoke("-r", str(broken), "assess", str(cases), "--jobs", "2")
    assert code == 2 and out == ""
    assert err == f"calfrules: error: {broken}: ruleset: missing 'title'\n"


def test_plugin_problems_are_warned_once_like_for_one_case(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from calfrules import hookimpl
    from calfrules.engine import engine as engine_module

    class RaisingPack:
        calfrules_plugin_name = "raising_pack"

        @hookimpl
        def calfrules_register_texts(self, register: object) -> None:
            raise RuntimeError("boom")

    load_host = engine_module.create_host

    def with_raising_pack(**options: Any) -> Any:
        return load_host(**{**options, "extra_plugins": [*options.get("extra_plugins", ()), RaisingPack()]})

    monkeypatch.setattr(engine_module, "create_host", with_raising_pack)  # forked workers inherit it
    cases = tmp_path / "cases.jsonl"
    cases.write_text("".join(json.dumps(case) + "\n" for case in CASES[:3]), encoding="utf-8")
    code, out, err = invoke("assess", str(cases), "--jobs", "2")
    assert code == 0 and len(records(out)) == 3
    warnings = [line for line in err.splitlines() if line.startswith("calfrules: warning: plugin raising_pack")]
    assert len(warnings) == 1 and "boom" in warnings[0]
    assert all("raising_pack" in " ".join(r["assessment"]["warnings"]) for r in records(out))


def test_more_jobs_than_work_start_only_the_workers_needed(tmp_path: Path) -> None:
    """--jobs 5000 used to fork 5000 workers up front (fork start: all at once) and hang."""
    from calfrules.cli.batch import CHUNK

    path = tmp_path / "few.jsonl"
    path.write_text("".join(json.dumps(case) + "\n" for case in CASES), encoding="utf-8")
    assert len(CASES) <= CHUNK  # one chunk of work: one worker
    code, out, _ = invoke("assess", str(path), "--jobs", "64")
    assert code == 0 and [r["assessment"] for r in records(out)] == [one_at_a_time(c) for c in CASES]


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal (POSIX)")
def test_with_the_progress_bar_on_a_terminal_the_lines_still_go_to_stdout(tmp_path: Path) -> None:
    """rich's progress bar used to capture standard output: `> out.jsonl` stayed empty on a terminal."""
    cases = tmp_path / "cases.jsonl"
    cases.write_text("".join(json.dumps(case) + "\n" for case in CASES), encoding="utf-8")
    output = tmp_path / "out.jsonl"
    master, terminal = os.openpty()
    try:
        with output.open("w", encoding="utf-8") as out:
            done = subprocess.run(
                [sys.executable, "-m", "calfrules", "assess", str(cases), "--jobs", "2"],
                stdout=out,
                stderr=terminal,
                timeout=60,
                check=False,
            )
    finally:
        os.close(terminal)
        os.close(master)
    assert done.returncode == 0
    assert [r["assessment"] for r in records(output.read_text(encoding="utf-8"))] == [one_at_a_time(c) for c in CASES]
