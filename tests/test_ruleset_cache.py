"""The ruleset cache: a hit gives the same ruleset, a changed file or a bad entry is rebuilt, never trusted."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from calfrules.knowledge import ruleset_cache, ruleset_io, ruleset_write
from calfrules.rules import condition
from calfrules.rules.errors import CalfrulesError, RulesetError

RULESET = """
id = "cached"
version = "1.0.0"
title = "Cache test"

[[references]]
id = "ref"
citation = "A published source"

[conditions.cached_condition]
label = "Cached condition"

[[rules]]
id = "first"
when = "calf_pain and (pain_score >= 4 or calf_tightness) and not fever"
conclude = "cached_condition"
rationale = "Test."
references = ["ref"]

[[floor]]
id = "cached_floor"
when = "calf_warmth and swelling_unilateral and fever"
level = "urgent"
label = "Cached floor entry"
"""


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("CALFRULES_CACHE_DIR", str(folder))
    monkeypatch.delenv("CALFRULES_NO_CACHE", raising=False)
    return folder


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"{ruleset_cache.PREFIX}*{ruleset_cache.SUFFIX}")) if folder.exists() else []


def _write(tmp_path: Path, text: str = RULESET) -> Path:
    path = tmp_path / "cached.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_second_load_comes_from_the_cache_and_equals_the_first(cache: Path, tmp_path: Path) -> None:
    path = _write(tmp_path)
    first = ruleset_io.load(path)
    assert len(_entries(cache)) == 1
    assert (cache.stat().st_mode & 0o777) == 0o700
    second = ruleset_io.load(path)
    assert second is not first  # read back from the file, not kept in memory
    assert second == first
    assert ruleset_io.content_hash(second) == ruleset_write.content_hash(second)
    assert ruleset_cache.known_hash(second) == ruleset_write.content_hash(first)


def test_a_hit_primes_the_condition_parses(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path)
    ruleset_io.load(path)
    monkeypatch.setattr(condition, "_PARSED", {})
    loaded = ruleset_io.load(path)
    assert set(condition._PARSED) == {rule.when for rule in loaded.rules} | {entry.when for entry in loaded.floor}


def test_a_changed_file_is_read_again_never_served_stale(cache: Path, tmp_path: Path) -> None:
    path = _write(tmp_path)
    assert ruleset_io.load(path).rules[0].when.startswith("calf_pain and")
    path.write_text(RULESET.replace("calf_pain and (", "calf_tightness and ("), encoding="utf-8")
    assert ruleset_io.load(path).rules[0].when.startswith("calf_tightness and")
    assert len(_entries(cache)) == 2


@pytest.mark.parametrize(
    "damage",
    [
        b"",
        b"not a pickle at all",
        pickle.dumps(("calfrules-ruleset-cache-1", "another key", None, (), "x"))[:-7],  # truncated
        pickle.dumps(("calfrules-ruleset-cache-1", "another key", None, (), "x")),  # someone else's key
        pickle.dumps(["a", "list"]),
        pickle.dumps(("calfrules-ruleset-cache-0",)),
    ],
)
def test_a_damaged_entry_is_rebuilt_without_an_error(cache: Path, tmp_path: Path, damage: bytes) -> None:
    path = _write(tmp_path)
    expected = ruleset_io.load(path)
    (entry,) = _entries(cache)
    entry.write_bytes(damage)
    assert ruleset_io.load(path) == expected
    assert ruleset_io.load(path) == expected
    assert entry.read_bytes() != damage  # rebuilt and written again


def test_an_entry_for_another_key_is_not_trusted(cache: Path, tmp_path: Path) -> None:
    path = _write(tmp_path)
    ruleset_io.load(path)
    (entry,) = _entries(cache)
    (tmp_path / "other").mkdir()
    other = _write(tmp_path / "other", RULESET.replace('title = "Cache test"', 'title = "Other"'))
    ruleset_io.load(other)
    (other_entry,) = [e for e in _entries(cache) if e != entry]
    entry.write_bytes(other_entry.read_bytes())  # a valid entry, under the wrong name
    assert ruleset_io.load(path).title == "Cache test"


def test_an_invalid_ruleset_is_an_error_every_time_and_never_cached(cache: Path, tmp_path: Path) -> None:
    path = _write(tmp_path, RULESET.replace("calf_pain and (", "calf_pain and and ("))
    for _ in range(2):
        with pytest.raises(RulesetError, match="in 'when'"):
            ruleset_io.load(path)
    assert _entries(cache) == []


def test_no_cache_turns_it_off_and_a_typo_in_it_is_an_error(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path)
    monkeypatch.setenv("CALFRULES_NO_CACHE", "1")
    assert ruleset_io.load(path).id == "cached"
    assert _entries(cache) == []
    monkeypatch.setenv("CALFRULES_NO_CACHE", "yes please")
    with pytest.raises(CalfrulesError, match="CALFRULES_NO_CACHE"):
        ruleset_io.load(path)


def test_a_folder_others_can_write_to_is_never_used(cache: Path, tmp_path: Path) -> None:
    cache.mkdir(mode=0o700)
    cache.chmod(0o777)
    path = _write(tmp_path)
    assert ruleset_io.load(path).id == "cached"
    assert _entries(cache) == []


def test_the_folder_is_pruned_to_its_limit(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ruleset_cache, "MAX_ENTRIES", 4)
    for n in range(6):
        ruleset_io.load(_write(tmp_path, RULESET.replace("1.0.0", f"1.0.{n}")))
    assert 1 <= len(_entries(cache)) <= 4


def test_every_condition_is_parsed_once_past_any_lru_size(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = condition._parse

    def counting(text: str) -> condition.Expr:
        calls.append(text)
        return real(text)

    monkeypatch.setattr(condition, "_parse", counting)
    monkeypatch.setattr(condition, "_PARSED", {})
    monkeypatch.setattr(condition, "_parsed_chars", 0)
    texts = [f"calf_pain and pain_score >= {n}" for n in range(5000)]  # more than the old LRU's 4,096
    for _ in range(2):
        for text in texts:
            condition.parse(text)
    assert len(calls) == len(texts)


def test_past_its_budget_the_parse_cache_keeps_what_it_has_and_evicts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(condition, "_PARSED", {})
    monkeypatch.setattr(condition, "_parsed_chars", 0)
    texts = [f"calf_pain and pain_score >= {n}" for n in range(10, 40)]  # 30 characters each
    monkeypatch.setattr(condition, "PARSED_BUDGET", 10 * len(texts[0]))
    for text in texts:
        assert condition.parse(text) == condition._parse(text)
    assert list(condition._PARSED) == texts[:10]  # the first ten kept; the rest parsed each time


def test_assessments_are_the_same_with_and_without_the_cache(tmp_path: Path) -> None:
    code = (
        "import json; from calfrules import load_engine; from calfrules.knowledge.builtin import BUILTIN_PLUGINS; "
        "e = load_engine(isolation='none', allow=BUILTIN_PLUGINS); "
        "cases = [{'findings': {'calf_pain': True, 'pain_score': 6}}, "
        "{'findings': {'calf_warmth': True, 'swelling_unilateral': True, 'fever': True}}, "
        "{'findings': {'achilles_pain': True, 'pain_location': 'achilles', 'pop_or_snap_felt': True}}]; "
        "print(json.dumps([e.assess(c).to_dict() for c in cases], sort_keys=True))"
    )
    folder = tmp_path / "cache"
    runs = []
    for env in (
        {"CALFRULES_NO_CACHE": "1"},
        {"CALFRULES_CACHE_DIR": str(folder)},
        {"CALFRULES_CACHE_DIR": str(folder)},
    ):
        base = {k: v for k, v in os.environ.items() if k != "CALFRULES_NO_CACHE"}
        done = subprocess.run([sys.executable, "-c", code], env={**base, **env}, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        runs.append(json.loads(done.stdout))
    assert _entries(folder)  # the third run read the cache the second wrote
    assert runs[0] == runs[1] == runs[2]
