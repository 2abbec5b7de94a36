"""``calfrules new-pack NAME`` writes a pack that loads, passes its golden cases and its own tests."""

from __future__ import annotations

import os
import py_compile
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from calfrules import load_engine, load_ruleset
from calfrules.cli import cli
from calfrules.cli.new_pack import PACK_FILES, render_pack
from calfrules.knowledge.builtin import BUILTIN_PLUGINS
from calfrules.testing import assert_golden_cases_pass, assert_red_flags_never_lower


def new_pack(tmp_path: Path, name: str = "heel", *extra: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["new-pack", name, "--directory", str(tmp_path / name), *extra])
    return result.exit_code, result.stdout, result.stderr


def test_it_writes_every_file_filled_in(tmp_path: Path) -> None:
    code, out, _ = new_pack(tmp_path, "heel", "--author", 'A "Quoted" Clinic')
    pack = tmp_path / "heel"
    written = sorted(str(path.relative_to(pack)) for path in pack.rglob("*") if path.is_file())
    assert code == 0 and "next: pip install -e" in out
    assert written == sorted(
        ["pyproject.toml", "README.md", "calfrules_heel/__init__.py", "calfrules_heel/heel.toml", "tests/test_heel.py"]
    )
    assert not any("$" in path.read_text() for path in pack.rglob("*") if path.is_file())
    project = tomllib.loads((pack / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["calfrules"] == {"heel": "calfrules_heel"}
    assert project["project"]["optional-dependencies"]["test"] == ["calfrules[testing]"]
    assert load_ruleset(pack / "calfrules_heel" / "heel.toml").authors == ('A "Quoted" Clinic',)
    for module in (pack / "calfrules_heel" / "__init__.py", pack / "tests" / "test_heel.py"):
        py_compile.compile(str(module), doraise=True)


def test_its_ruleset_loads_cites_a_published_source_and_passes_its_golden_cases(tmp_path: Path) -> None:
    new_pack(tmp_path, "heel")
    ruleset = load_ruleset(tmp_path / "heel" / "calfrules_heel" / "heel.toml")
    assert len(ruleset.conditions) == 1 and len(ruleset.rules) == 1 and len(ruleset.tests) >= 3
    assert all(ref.url and ref.url.startswith("https://doi.org/") for ref in ruleset.references)
    assert any(test.expect.red_flags for test in ruleset.tests)
    with load_engine(rulesets=[ruleset], allow=BUILTIN_PLUGINS, isolation="none") as engine:
        assert engine.problems == []
        assert len(assert_golden_cases_pass(engine, "heel")) == len(ruleset.tests)
        assert_red_flags_never_lower(engine, "heel", max_examples=20)


def test_two_generated_packs_do_not_clash(tmp_path: Path) -> None:
    first, second = (render_pack(name) for name in ("heel", "arch"))
    paths = [tmp_path / "heel.toml", tmp_path / "arch.toml"]
    paths[0].write_text(first["calfrules_heel/heel.toml"])
    paths[1].write_text(second["calfrules_arch/arch.toml"])
    with load_engine(rulesets=paths, allow=BUILTIN_PLUGINS, isolation="none") as engine:
        assert engine.problems == [] and {"heel", "arch"} <= {e.ruleset.id for e in engine.rulesets}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Heel", "use lower case letters, digits and _"),
        ("heel-pain", "use lower case letters, digits and _"),
        ("x" * 41, "at most 40 characters"),
        ("strains", "taken by calfrules' own plugins or rulesets"),
        ("vocabulary", "taken by calfrules' own plugins or rulesets"),
        ("core", "taken by calfrules' own plugins or rulesets"),
    ],
)
def test_a_bad_or_taken_name_is_one_clear_error(tmp_path: Path, name: str, message: str) -> None:
    code, _, err = new_pack(tmp_path, name)
    assert code == 2 and err.startswith("calfrules: error: ") and message in err
    assert not (tmp_path / name).exists()


def test_an_existing_directory_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "heel").mkdir()
    (tmp_path / "heel" / "keep.txt").write_text("mine")
    code, _, err = new_pack(tmp_path, "heel")
    assert code == 2 and "already exists" in err
    assert [p.name for p in (tmp_path / "heel").iterdir()] == ["keep.txt"]


def test_the_templates_are_all_used() -> None:
    templates = Path(__file__).parent.parent / "calfrules" / "templates" / "pack"
    assert sorted(p.name for p in templates.iterdir()) == sorted(PACK_FILES)


@pytest.mark.slow
def test_installed_it_passes_its_own_tests_and_calfrules_check(tmp_path: Path) -> None:
    """Installed (a dist-info with its entry point on PYTHONPATH, as pip leaves it), in a fresh process."""
    new_pack(tmp_path, "heel")
    pack = tmp_path / "heel"
    info = pack / "calfrules_heel-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: calfrules-heel\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[calfrules]\nheel = calfrules_heel\n")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(pack), os.environ.get("PYTHONPATH", "")]),
        "CALFRULES_PLUGINS": ",".join([*BUILTIN_PLUGINS, "heel"]),
    }
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=pack,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert "5 passed" in tests.stdout
    check = subprocess.run(
        [sys.executable, "-m", "calfrules", "check", "--no-safety"], cwd=pack, env=env, capture_output=True, text=True
    )
    assert check.returncode == 0 and "OK: " in check.stdout, check.stdout + check.stderr
