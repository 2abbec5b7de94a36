"""The optional compiled build: the backend asks for mypy only when compiling, never compiles an
editable install, and the bench can tell which build runs (setup.py, scripts/build_backend)."""

from __future__ import annotations

import ast
import importlib.util
import os
import sys
import types
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from calfrules.tooling import build_info

ROOT = Path(__file__).resolve().parents[1]
BACKEND = ROOT / "scripts" / "build_backend" / "calfrules_build.py"


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The backend, its setuptools hooks replaced by ones that record whether they would compile
    (the real ones run setup.py, which needs the setuptools of an isolated build)."""
    monkeypatch.chdir(ROOT)  # a build backend runs in the project folder
    spec = importlib.util.spec_from_file_location("calfrules_build", BACKEND)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.seen = []
    for hook in ("get_requires_for_build_wheel", "prepare_metadata_for_build_wheel", "build_sdist", "build_wheel"):
        monkeypatch.setattr(module._setuptools, hook, _recording(module.seen))
    return module


def _recording(seen: list[str | None]) -> Callable[..., list[str]]:
    def hook(*args: object) -> list[str]:
        seen.append(os.environ.get("CALFRULES_COMPILE"))
        return ["wheel"]

    return hook


def test_a_plain_build_needs_no_mypy(backend: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CALFRULES_COMPILE", raising=False)
    assert backend.get_requires_for_build_wheel() == ["wheel"]


def test_a_compiled_build_asks_for_mypy_and_the_typed_dependencies(
    backend: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALFRULES_COMPILE", "mypyc")
    needs = backend.get_requires_for_build_wheel()
    assert backend.seen == [None]  # setuptools' own requirements are asked without compiling
    assert backend.MYPYC in needs and any(need.startswith("msgspec") for need in needs)
    assert not any(need.startswith("durable-rules") for need in needs)  # untyped either way


def test_only_the_wheel_compiles(backend: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALFRULES_COMPILE", "mypyc")
    backend.build_sdist("dist")
    backend.prepare_metadata_for_build_wheel("meta")
    backend.build_wheel("wheels")
    assert backend.seen == [None, None, "mypyc"]
    assert os.environ["CALFRULES_COMPILE"] == "mypyc"  # put back after each hook


@pytest.mark.parametrize("hook", ["get_requires_for_build_editable", "build_editable"])
def test_an_editable_install_refuses_to_compile_and_says_why(
    backend: ModuleType, monkeypatch: pytest.MonkeyPatch, hook: str
) -> None:
    monkeypatch.setenv("CALFRULES_COMPILE", "mypyc")
    with pytest.raises(SystemExit) as refused:
        getattr(backend, hook)("wheels") if hook == "build_editable" else getattr(backend, hook)()
    assert "unset CALFRULES_COMPILE for `pip install -e`" in str(refused.value)


def test_the_compiled_hot_path_is_typed_source_that_exists() -> None:
    tree = ast.parse((ROOT / "setup.py").read_text())
    [listed] = [
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "HOT_PATH"
    ]
    assert listed and all((ROOT / path).is_file() and path.endswith(".py") for path in listed)


def test_the_build_in_use_is_told_by_its_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    import calfrules.engine.policy

    source = calfrules.engine.policy.__file__ or ""
    assert build_info.build_kind() == ("python" if source.endswith(".py") else "mypyc")
    fake = types.ModuleType("calfrules.engine.fake_compiled")
    fake.__file__ = "/x/calfrules/engine/fake_compiled.cpython-311-x86_64-linux-gnu.so"
    monkeypatch.setitem(sys.modules, fake.__name__, fake)
    assert "calfrules.engine.fake_compiled" in build_info.compiled_modules()
    assert build_info.build_kind() == "mypyc"
