from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path


def test_engine_and_cli_never_import_textual() -> None:
    code = (
        "import sys; import calfrules, calfrules.cli; from calfrules import load_engine; "
        "e = load_engine(); e.assess({'findings': {'calf_pain': True}}); "
        "from click.testing import CliRunner; CliRunner().invoke(calfrules.cli.cli, ['vocab', '--json']); "
        "print([m for m in sys.modules if m.split('.')[0] == 'textual'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# What no start-up needs: each is imported by the command or feature that uses it.
HEAVY = ("lark", "rich", "fastapi", "starlette", "uvicorn", "hypothesis", "textual", "jsonschema", "clips", "tomlkit")
HEAVY_OWN = ("calfrules.service", "calfrules.tooling", "calfrules.tui", "calfrules.audit", "calfrules.formats.fhir")


# Imported where they are used, each off the start-up path: TOML (a warm cache reads none),
# difflib (the suggestions in an error message), multiprocessing (batch work only),
# importlib.metadata and importlib.resources (packs and rulesets are found by calfrules.knowledge.installed
# and read from their folders; about 20 ms with email, zipfile and tempfile), tempfile (writing a file).
NOT_AT_START_UP = frozenset(
    {"tomli", "difflib", "multiprocessing", "importlib.metadata", "importlib.resources", "email", "tempfile", "zipfile"}
)
EXAMPLE_CASE = Path(__file__).resolve().parent.parent / "examples" / "cases" / "suspected_dvt.json"


def _imported_after(code: str, cache: Path) -> list[str]:
    probe = f"import sys; {code}; print('\\n'.join(sys.modules))"
    env = {**{k: v for k, v in os.environ.items() if k != "CALFRULES_NO_CACHE"}, "CALFRULES_CACHE_DIR": str(cache)}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env).stdout
    return out.split()


def _heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if m.split(".")[0] in HEAVY or m.startswith(HEAVY_OWN)]


def test_a_start_up_with_a_warm_cache_imports_nothing_heavy_not_even_the_parser(tmp_path: Path) -> None:
    load = "from calfrules import load_engine; e = load_engine(); e.assess({'findings': {'calf_pain': True}})"
    _imported_after(load, tmp_path)  # fills the ruleset cache
    modules = _imported_after(load, tmp_path)
    assert _heavy(modules) == []  # lark too: every condition came parsed from the cache
    assert NOT_AT_START_UP.isdisjoint(modules)


def test_an_in_process_engine_imports_neither_the_isolation_nor_the_oracle(tmp_path: Path) -> None:
    load = "from calfrules import load_engine; load_engine(isolation='none').assess({'findings': {'calf_pain': True}})"
    _imported_after(load, tmp_path)  # fills the ruleset cache
    modules = _imported_after(load, tmp_path)
    assert "calfrules.engine.isolation" not in modules and "calfrules.engine.oracle" not in modules
    assert NOT_AT_START_UP.isdisjoint(modules)


def test_importing_the_cli_imports_nothing_heavy(tmp_path: Path) -> None:
    modules = _imported_after("import calfrules.cli", tmp_path)
    assert _heavy(modules) == []
    assert "calfrules.formats.text" not in modules  # only a command that prints text needs it


def test_the_schema_command_offers_every_schema_without_importing_the_schema_module() -> None:
    from calfrules.cli import schema
    from calfrules.formats import json_schema

    assert schema.SCHEMA_NAMES == json_schema.SCHEMA_NAMES


def test_a_cold_cache_still_parses_the_conditions(tmp_path: Path) -> None:
    modules = _imported_after("from calfrules import load_engine; load_engine(isolation='none')", tmp_path)
    assert "lark" in modules  # nothing cached yet: every ruleset was read and checked


def test_a_cold_calfrules_assess_imports_nothing_it_does_not_use(tmp_path: Path) -> None:
    args = ["assess", str(EXAMPLE_CASE), "--json"]
    run = f"from calfrules.cli import cli; cli.main(args={args!r}, prog_name='calfrules', standalone_mode=False)"
    _imported_after(run, tmp_path)  # fills the ruleset cache
    out = _imported_after(run, tmp_path)  # the assessment's JSON, then the modules
    assert '"level":' in out and "calfrules.cli.assess" in out  # it ran and printed an assessment
    assert _heavy(out) == [] and NOT_AT_START_UP.isdisjoint(out)


def test_a_start_up_imports_no_pathlib(tmp_path: Path) -> None:
    """pathlib, with urllib.parse and ipaddress, costs start-up 5-10 ms. An editable install's
    finder imports it before calfrules does, so this runs without site (-S): as an installed
    calfrules starts, the source and this interpreter's packages on the path."""
    load = (
        "from calfrules import load_engine; e = load_engine(); "
        "e.assess({'findings': {'calf_pain': True}}); e.close()"
    )
    paths = sysconfig.get_paths()
    source = str(Path(__file__).resolve().parent.parent)
    env = {
        **{k: v for k, v in os.environ.items() if k != "CALFRULES_NO_CACHE"},
        "CALFRULES_CACHE_DIR": str(tmp_path),
        "PYTHONPATH": os.pathsep.join([source, paths["purelib"], paths["platlib"]]),
    }
    probe = f"import sys; {load}; print('\\n'.join(sys.modules))"
    for _ in range(2):  # the second start finds its rulesets in the cache
        command = [sys.executable, "-S", "-c", probe]
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-2000:]
    modules = done.stdout.split()
    assert "calfrules.engine.engine" in modules
    assert {"pathlib", "urllib.parse", "ipaddress"}.isdisjoint(modules)
