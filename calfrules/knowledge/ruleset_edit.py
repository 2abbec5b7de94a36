"""Edit a ruleset file in place: comments, order and formatting of what is not edited survive.

The TUI's editable copy is the shipped file byte for byte; a save applies only the
differences between the ruleset as loaded and as edited, item by item (a rule, a golden
case, a condition), with tomlkit. The same function merges: applied to a file someone
else changed since, it keeps their items and reports the ones both changed.
Headless and import-light (tomlkit only, when called).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from calfrules.files import atomic_write_text
from calfrules.knowledge.ruleset_write import content_hash, ruleset_to_data
from calfrules.rules.errors import RulesetError
from calfrules.rules.model import Ruleset

__all__ = ["EditConflict", "copy_ruleset_file", "edited_text", "shipped_path"]


class EditConflict(RulesetError):
    """Both sides changed the same item differently; ``items`` names them (``rules r1``)."""

    def __init__(self, items: list[str]) -> None:
        super().__init__(f"changed both in the file and here: {', '.join(items)}; reload, or edit them again")
        self.items = items


def shipped_path(source: str) -> Path:
    """The file a plugin's ruleset was read from (``package/name.toml`` as load_resource names it)."""
    package, _, name = source.rpartition("/")
    try:
        found = resources.files(package).joinpath(name)
    except ModuleNotFoundError:
        raise RulesetError(f"cannot find the shipped file of {source!r}") from None
    return Path(str(found))


def copy_ruleset_file(source: Path, target: Path) -> str:
    """Copy byte for byte (the folder is made if needed); returns the text. One plain error when it fails."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    except OSError as exc:
        raise RulesetError(
            f"{target}: cannot write here ({exc.strerror or exc}); choose a folder you can write to"
        ) from None
    return target.read_text(encoding="utf-8")


def edited_text(text: str, old: Ruleset, new: Ruleset) -> str:
    """``text`` (a file that reads as ``old``, or as someone else's later version of it) with
    the edits that turned ``old`` into ``new`` applied; raises EditConflict when the file and the
    edits changed the same item differently."""
    import tomlkit

    document = tomlkit.parse(text)
    before, after = ruleset_to_data(old), ruleset_to_data(new)
    current = document.unwrap()
    conflicts: list[str] = []
    for key in dict.fromkeys([*before, *after]):
        was, now = before.get(key), after.get(key)
        if was == now:
            continue
        there = current.get(key)
        if _is_table_list(was) or _is_table_list(now):
            _edit_list(document, key, was or [], now or [], there or [], conflicts)
        elif isinstance(was, Mapping) or isinstance(now, Mapping):
            _edit_keyed(document, key, was or {}, now or {}, there or {}, conflicts)
        elif there not in (was, now):
            conflicts.append(key)
        elif now is None:
            del document[key]
        else:
            document[key] = now
    if conflicts:
        raise EditConflict(conflicts)
    return tomlkit.dumps(document)


def _is_table_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) and "id" in v for v in value)


def _edit_list(document: Any, key: str, was: list[Any], now: list[Any], there: list[Any], conflicts: list[str]) -> None:
    """An array of tables with ids ([[rules]], [[tests]]): item by item."""
    import tomlkit

    old = {item["id"]: item for item in was}
    new = {item["id"]: item for item in now}
    theirs = {item["id"]: item for item in there}
    if key not in document:
        document[key] = tomlkit.aot()
    tables = document[key]
    for item_id in dict.fromkeys([*old, *new]):
        a, b = old.get(item_id), new.get(item_id)
        if a == b:
            continue
        if theirs.get(item_id) not in (a, b):
            conflicts.append(f"{key} {item_id}")
            continue
        index = next((i for i, t in enumerate(tables) if t.get("id") == item_id), None)
        if b is None:
            if index is not None:
                del tables[index]
        elif index is None:
            tables.append(_table(b))
        else:
            _update_table(tables[index], theirs[item_id], b)


def _edit_keyed(
    document: Any,
    key: str,
    was: Mapping[str, Any],
    now: Mapping[str, Any],
    there: Mapping[str, Any],
    conflicts: list[str],
) -> None:
    """A table of tables ([conditions.x], [references.y]): entry by entry."""
    import tomlkit

    if key not in document:
        document[key] = tomlkit.table(is_super_table=True)
    tables = document[key]
    for name in dict.fromkeys([*was, *now]):
        a, b = was.get(name), now.get(name)
        if a == b:
            continue
        if there.get(name) not in (a, b):
            conflicts.append(f"{key} {name}")
        elif b is None:
            tables.pop(name, None)
        elif name not in tables or not isinstance(b, Mapping):
            tables[name] = _table(b) if isinstance(b, Mapping) else b
        else:
            _update_table(tables[name], there[name], b)


def _update_table(table: Any, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """Change only the keys that changed, so the others keep their comments and layout."""
    for name in [k for k in old if k not in new]:
        del table[name]
    for name, value in new.items():
        if old.get(name) != value:
            table[name] = _table(value) if isinstance(value, Mapping) else value


def _table(data: Mapping[str, Any]) -> Any:
    import tomlkit

    table = tomlkit.table()
    for name, value in data.items():
        table[name] = _table(value) if isinstance(value, Mapping) else value
    return table


def verified(text: str, expected: Ruleset, source: str) -> str:
    """``text`` if it reads back as ``expected``; raises RulesetError saying what went wrong."""
    from calfrules.knowledge.ruleset_io import loads

    if content_hash(loads(text, source)) != content_hash(expected):
        raise RulesetError("the edited file does not read back as the edited ruleset", source=source)
    return text


def write_copy(text: str, path: Path) -> None:
    atomic_write_text(path, text, error=RulesetError)
