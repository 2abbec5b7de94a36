"""The README's red-flag table is the built-in floor, entry for entry."""

from __future__ import annotations

import re
from pathlib import Path

from calfrules.tooling.red_flag_table import builtin_markdown_table

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"<!-- red-flag-table:[^\n]*-->\n(.*?)\n<!-- /red-flag-table -->", re.S)


def test_the_readme_red_flag_table_matches_the_floor() -> None:
    found = BLOCK.search(README.read_text(encoding="utf-8"))
    assert found, "README.md lost its red-flag table markers"
    assert found.group(1).strip() == builtin_markdown_table().strip(), (
        "the README's red-flag table is out of date: regenerate it with python -m calfrules.tooling.red_flag_table"
    )
