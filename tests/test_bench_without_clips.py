"""The bench without clipspy (a test extra): vs_clips is unavailable, said in one line, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from calfrules.knowledge.builtin import BUILTIN_PLUGINS
from calfrules.tooling import bench

# sys.modules["clips"] = None makes `import clips` fail as if clipspy were not installed
WITHOUT_CLIPS = (
    "import sys; sys.modules['clips'] = None; from calfrules.tooling import bench; "
    "bench.main(['--cases', '20', '--no-extras'])"
)


@pytest.mark.slow
def test_without_clipspy_vs_clips_is_unavailable_in_one_line() -> None:
    run = subprocess.run([sys.executable, "-c", WITHOUT_CLIPS], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("\n") == 1
    assert " vs_clips=unavailable rules_vs_clips=unavailable " in run.stdout
    assert "calfrules-bench: vs_clips unavailable: clipspy is not installed" in run.stderr
    assert "Traceback" not in run.stderr


def test_clips_is_found_when_installed_and_missing_when_blocked(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("clips")
    assert bench.clips_unavailable() is None
    monkeypatch.setitem(sys.modules, "clips", None)
    assert bench.clips_unavailable() == "clipspy is not installed (pip install clipspy, or calfrules[test])"


def test_the_bench_measures_the_builtin_plugins_only() -> None:
    assert bench.builtin_plugins() == list(BUILTIN_PLUGINS)


def test_a_bad_plugin_setting_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CALFRULES_BLOCK_PLUGINS", "nosuch")
    with pytest.raises(SystemExit) as exited:
        bench.main(["--cases", "10", "--no-extras"])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and err.startswith("calfrules-bench: error: $CALFRULES_BLOCK_PLUGINS: no plugin")
    assert err.count("\n") == 1
