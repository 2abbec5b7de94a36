"""What an install ships, and that calfrules works from the repository root however it was installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

from calfrules.cli.new_pack import PACK_FILES

ROOT = Path(__file__).resolve().parents[1]
BUILTINS = "['cramps', 'strains', 'shin_splints', 'stress_fractures', 'dehydration', 'form', 'red_flags']"
# loads the built-in knowledge and says where its rulesets came from
LOAD = (
    "import calfrules.rulesets as r; from calfrules import load_engine; "
    f"e = load_engine(isolation='none', allow={BUILTINS}); print(len(e.program.rules), r.__file__)"
)


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (
        f"{args} in {cwd}: exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    )
    return done.stdout


def test_every_calfrules_package_and_data_folder_is_listed_for_setuptools() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {
        path.parent
        for path in (ROOT / "calfrules").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and not path.name.startswith(".")
    }
    found = {".".join(folder.relative_to(ROOT).parts) for folder in folders}
    assert found - listed == set(), "add these to [tool.setuptools] packages (and their data to package-data)"


def test_the_api_and_the_cli_work_from_the_repository_root() -> None:
    rules, _ = run([sys.executable, "-c", LOAD], cwd=ROOT).split()
    assert int(rules) > 0
    assert run([sys.executable, "-m", "calfrules", "--version"], cwd=ROOT).startswith("calfrules, version ")


def test_a_source_checkout_maps_exactly_plugins_and_rulesets_to_its_top_level_folders() -> None:
    # as after a non-editable install: no editable-install finder maps the folders
    code = (
        "import sys; editable = lambda f: getattr(f, '__module__', '').startswith('__editable__'); "
        "sys.meta_path[:] = [f for f in sys.meta_path if not editable(f)]; "
        "import importlib.util as u; import calfrules; "
        "print(u.find_spec('calfrules.examples'), u.find_spec('calfrules.tests')); " + LOAD
    )
    no_examples, no_tests, rules, rulesets = run([sys.executable, "-c", code], cwd=ROOT).split()
    assert (no_examples, no_tests) == ("None", "None")
    assert int(rules) > 0 and Path(rulesets) == ROOT / "rulesets" / "__init__.py"


@pytest.mark.slow
def test_a_non_editable_install_works_from_the_repository_root_and_elsewhere(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a copy: building in the checkout would leave build/ behind
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(".*", "build", "dist", "*.egg-info", "__pycache__", "tests", "examples"),
    )
    site = tmp_path / "site"
    run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(source)], cwd=tmp_path)
    assert (site / "calfrules" / "rulesets" / "vocabulary.toml").is_file()
    assert not (site / "rulesets").exists() and not (site / "plugins").exists()
    # the templates of `calfrules new-pack` ship as package data
    assert sorted(path.name for path in (site / "calfrules" / "templates" / "pack").iterdir()) == sorted(PACK_FILES)
    # -S: this interpreter's packages without their .pth files, so no editable install is active
    paths = sysconfig.get_paths()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), paths["purelib"], paths["platlib"]])}
    python = [sys.executable, "-S"]
    _, installed = run([*python, "-c", LOAD], cwd=tmp_path, env=env).split()
    assert Path(installed) == site / "calfrules" / "rulesets" / "__init__.py"
    # from the root the source calfrules/ shadows the installed one, and must work all the same
    _, from_source = run([*python, "-c", LOAD], cwd=ROOT, env=env).split()
    assert Path(from_source) == ROOT / "rulesets" / "__init__.py"
    case = str(ROOT / "examples" / "cases" / "sore_calves_after_layoff.json")
    for cwd in (ROOT, tmp_path):
        assert run([*python, "-m", "calfrules", "assess", case], cwd=cwd, env=env).startswith("LEVEL: ")
    run([*python, "-m", "calfrules", "new-pack", "from_wheel"], cwd=tmp_path, env=env)
    assert (tmp_path / "from_wheel" / "calfrules_from_wheel" / "from_wheel.toml").is_file()
