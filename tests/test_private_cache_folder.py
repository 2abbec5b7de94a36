"""The private cache folder: made when missing, refused when it is not a private folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from calfrules.rules.private_cache import CACHE_DIR_ENV, private_cache_folder


def test_a_missing_folder_is_made_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "a" / "cache"
    monkeypatch.setenv(CACHE_DIR_ENV, str(folder))
    assert private_cache_folder() == str(folder)
    assert folder.is_dir() and folder.stat().st_mode & 0o777 == 0o700
    assert private_cache_folder() == str(folder)  # found the second time, not made again


def test_a_file_or_a_folder_others_can_write_is_no_cache_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("not a folder")
    monkeypatch.setenv(CACHE_DIR_ENV, str(a_file))
    assert private_cache_folder() is None
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    monkeypatch.setenv(CACHE_DIR_ENV, str(shared))
    assert private_cache_folder() is None
