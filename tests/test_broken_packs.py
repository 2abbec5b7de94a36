"""A broken pack is never silent (issue 17).

Each of the three breakages an author makes (a typo in one rule's ``when``, advice without
a source, a module that raises on import) is a real pack: a package and a ``.dist-info``
with its ``calfrules`` entry point, put on sys.path in tmp_path, so importlib.metadata finds
it exactly as it finds an installed one (nothing is pip-installed into the shared venv).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from calfrules import load_engine
from calfrules.cli import cli
from calfrules.knowledge.builtin import BUILTIN_PLUGINS
from calfrules.rules.errors import CaseError

EXAMPLE = Path(__file__).parent.parent / "examples" / "tibpost_pack" / "calfrules_tibpost"
PLUGIN = "brokenpack"
PACK_CASE = {"findings": {"medial_ankle_pain": True, "tibpost_tendon_tender": True}}
GOLDEN_IDS = [
    "typical_tendinopathy",
    "weak_heel_raise",
    "dropping_arch",
    "pain_without_tender_tendon",
    "pop_is_not_tendinopathy",
    "red_flag_still_wins",
]
Edit = Callable[[str, str], tuple[str, str]]


def _typo_in_when(init: str, toml: str) -> tuple[str, str]:
    broken = toml.replace('when = "tibialis_posterior_tendinopathy"\n', 'when = "tibialis_posterior_tendinopathi"\n')
    assert broken != toml
    return init, broken


def _advice_without_source(init: str, toml: str) -> tuple[str, str]:
    cited = 'references = ["kohls_gatzoulis_2004"]\n\n[[rules.recommend]]\nid = "tibpost_see_physio"'
    assert cited in toml
    return init, toml.replace(cited, '\n[[rules.recommend]]\nid = "tibpost_see_physio"')


def _import_error(init: str, toml: str) -> tuple[str, str]:
    return init.replace(
        '__version__ = "0.1.0"\n', '__version__ = "0.1.0"\nimport calfrules_no_such_module  # noqa\n'
    ), toml


BREAKAGES: dict[str, Edit] = {
    "typo_in_when": _typo_in_when,
    "advice_without_source": _advice_without_source,
    "import_error": _import_error,
}


def make_pack(site: Path, module: str, edit: Edit) -> None:
    """The example pack, broken by ``edit``, as an installed distribution under ``site``."""
    package = site / module
    package.mkdir(parents=True)
    init, toml = edit((EXAMPLE / "__init__.py").read_text(), (EXAMPLE / "tibpost.toml").read_text())
    (package / "__init__.py").write_text(init)
    (package / "tibpost.toml").write_text(toml)
    info = site / f"{module}-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[calfrules]\n{PLUGIN} = {module}\n")


@pytest.fixture(params=sorted(BREAKAGES))
def broken(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """One broken pack installed (the built-ins and it only), named by how it is broken."""
    kind: str = request.param
    module = f"calfrules_broken_{kind}"
    make_pack(tmp_path / "site", module, BREAKAGES[kind])
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("CALFRULES_PLUGINS", ",".join([*BUILTIN_PLUGINS, PLUGIN]))
    yield kind
    for name in [name for name in sys.modules if name == module or name.startswith(f"{module}.")]:
        del sys.modules[name]


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_the_plugin_shows_what_went_wrong(broken: str) -> None:
    with load_engine(isolation="none") as engine:
        (info,) = [p for p in engine.plugins if p.name == PLUGIN]
    if broken == "typo_in_when":
        assert info.status == "loaded_with_problems" and info.error is None
        assert "tibialis_posterior_tendinopathi" in info.problems[0] and "did you mean" in info.problems[0]
    else:
        assert info.status == "failed" and not info.problems
        assert info.traceback is not None and "Traceback" in info.traceback
    if broken == "advice_without_source":
        assert "tibpost_see_physio has no source" in (info.error or "")
    if broken == "import_error":
        assert "calfrules_no_such_module" in (info.error or "") and "__init__.py:" in (info.error or "")


def test_plugins_exits_1_and_says_so(broken: str) -> None:
    code, out, _ = run("plugins")
    (line,) = [line for line in out.splitlines() if line.startswith(PLUGIN)]
    assert code == 1
    assert ("loaded with problems" in line) == (broken == "typo_in_when")
    assert ("failed" in line) == (broken != "typo_in_when")


def test_plugins_json_and_verbose_carry_where_an_import_failed(broken: str) -> None:
    code, out, _ = run("plugins", "--json")
    (info,) = [p for p in json.loads(out) if p["name"] == PLUGIN]
    assert code == 1 and info["status"] in ("failed", "loaded_with_problems")
    if broken == "import_error":
        assert "__init__.py" in info["traceback"] and "ModuleNotFoundError" in info["traceback"]
        code, out, _ = run("plugins", "--verbose")
        assert code == 1 and "Traceback (most recent call last)" in out and "calfrules_no_such_module" in out


def test_golden_cases_that_could_not_run_are_named_and_fail(broken: str) -> None:
    code, out, _ = run("test", "--json")
    report = json.loads(out)
    mine = [r for r in report["results"] if r["ruleset"] == "tibpost"]
    assert code == 1
    assert [r["test"] for r in mine] == GOLDEN_IDS
    assert all(not r["passed"] and r["differences"][0].startswith("could not run") for r in mine)
    assert report["not_run"] == len(GOLDEN_IDS)
    code, out, _ = run("test")
    assert code == 1 and f"FAIL tibpost/{GOLDEN_IDS[0]}" in out and "(6 could not run)" in out


def test_an_assessment_needing_the_pack_is_incomplete_and_says_why(broken: str) -> None:
    with load_engine(isolation="none") as engine:
        if broken == "typo_in_when":  # the findings stay, the rules went: assessed, marked incomplete
            a = engine.assess(PACK_CASE)
        else:  # the findings went with the pack: the case is refused, naming the pack
            with pytest.raises(CaseError, match=f"plugin {PLUGIN}, which defines it, failed to load"):
                engine.assess(PACK_CASE)
            a = engine.assess({"findings": {"calf_pain": True}})
    assert not a.complete
    assert any(f"plugin {PLUGIN}" in reason and "missing" in reason for reason in a.incomplete_reasons)


def test_the_assessment_header_says_it_is_incomplete(broken: str) -> None:
    case = PACK_CASE if broken == "typo_in_when" else {"findings": {"calf_pain": True}}
    code, out, _ = run("assess", "-", stdin=json.dumps(case))
    header = out.split("\n\n", 1)[0]
    assert code == 0 and "INCOMPLETE ASSESSMENT" in header and f"plugin {PLUGIN}" in header
    code, out, _ = run("assess", "-", "--json", stdin=json.dumps(case))
    assert json.loads(out)["complete"] is False


def test_unknown_finding_names_the_pack_that_failed(broken: str) -> None:
    code, _, err = run("assess", "-", stdin=json.dumps(PACK_CASE))
    if broken == "typo_in_when":  # the pack loaded: its findings are known
        assert code == 0 and "unknown finding" not in err
    else:
        assert code == 2
        assert f"unknown finding 'medial_ankle_pain': plugin {PLUGIN}, which defines it, failed to load" in err


def test_a_healthy_pack_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_pack(tmp_path / "site", "calfrules_healthy_pack", lambda init, toml: (init, toml))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("CALFRULES_PLUGINS", ",".join([*BUILTIN_PLUGINS, PLUGIN]))
    try:
        code, out, _ = run("plugins")
        assert code == 0 and any(line.startswith(PLUGIN) and line.endswith("loaded") for line in out.splitlines())
        with load_engine(isolation="none") as engine:
            a = engine.assess(PACK_CASE)
        assert a.complete and "tibialis_posterior_tendinopathy" in a.condition_ids()
    finally:
        sys.modules.pop("calfrules_healthy_pack", None)
