"""calfrules.knowledge.installed finds what importlib.metadata finds, without importing it."""

from __future__ import annotations

import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from calfrules.knowledge import installed


def _dist(folder: Path, stem: str, version: str, entry_points: str) -> None:
    info = folder / f"{stem}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {stem}\nVersion: {version}\n\nVersion: not this\n")
    (info / "entry_points.txt").write_text(entry_points)


def _same_as_importlib(group: str) -> list[tuple[str, str, str | None]]:
    mine = [(e.name, e.value, e.version) for e in installed.entry_points(group)]
    theirs = [(e.name, e.value, e.dist.version if e.dist else None) for e in metadata.entry_points(group=group)]
    assert mine == theirs
    return mine


def test_entry_points_and_versions_match_importlib_metadata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    pack = "[calfrules]\n# a comment\n  demo = demo_pack.plugin : hooks \n\n[console_scripts]\ndemo = demo_pack:main\n"
    _dist(first, "Demo_Pack", "1.2", pack)
    _dist(second, "demo.pack", "0.9", "[calfrules]\nshadowed = demo_pack\n")  # the same name, later: ignored
    _dist(second, "other_pack", "3.0", "[calfrules]\nother = other_pack\n")
    monkeypatch.syspath_prepend(str(second))
    monkeypatch.syspath_prepend(str(first))
    found = _same_as_importlib("calfrules")
    assert ("demo", "demo_pack.plugin : hooks", "1.2") in found and ("other", "other_pack", "3.0") in found
    assert not any(name == "shadowed" for name, _, _ in found)
    _same_as_importlib("console_scripts")
    assert installed.version("demo-pack") == metadata.version("demo-pack") == "1.2"
    assert installed.version("no-such-distribution") is None


def test_a_zip_on_the_path_is_left_to_importlib_metadata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "packs.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("zipped_pack-2.0.dist-info/METADATA", "Name: zipped_pack\nVersion: 2.0\n")
        zipped.writestr("zipped_pack-2.0.dist-info/entry_points.txt", "[calfrules]\nzipped = zipped_pack\n")
    monkeypatch.setattr(sys, "path", [str(archive), *sys.path])
    assert ("zipped", "zipped_pack", "2.0") in _same_as_importlib("calfrules")


def test_an_entry_point_loads_the_object_it_names() -> None:
    assert installed.EntryPoint("x", "os.path:join", "g", None).load() is __import__("os").path.join
    assert installed.EntryPoint("x", "json", "g", None).load() is __import__("json")
    with pytest.raises(ValueError, match="not 'module' or 'module:attribute'"):
        installed.EntryPoint("x", "not a value!", "g", None).load()
