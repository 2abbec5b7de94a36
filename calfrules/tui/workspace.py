"""The TUI's in-memory model: every ruleset, its edits, and the engines built from them.

Headless (no Textual) so the flows can be tested without a screen. Edits live here
until saved: a crash of the rule engine (it runs in a child process) loses none.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from calfrules.engine.engine import Engine, load_engine
from calfrules.knowledge import ruleset_io
from calfrules.knowledge.ruleset_edit import copy_ruleset_file, edited_text, shipped_path
from calfrules.rules.errors import RulesetError
from calfrules.rules.model import ConditionInfo, GoldenCase, Rule, Ruleset

DEFAULT_COPY_DIR = Path("rulesets-local")
UNDO_STEPS = 50  # edits ctrl+z can take back, newest first


@dataclass
class RulesetDoc:
    """One ruleset as the TUI holds it."""

    ruleset: Ruleset
    plugin: str | None  # the plugin that ships it (None: a file the user named)
    path: Path | None  # the file it saves to; None: a plugin's ruleset, read-only
    saved_text: str = ""  # the file as last read or written (for the diff and the conflict check)
    replaces: str | None = None  # the plugin whose ruleset this file replaces
    dirty: bool = False
    saved: Ruleset | None = None  # ``saved_text`` as a ruleset (None: not read yet)

    @property
    def id(self) -> str:
        return self.ruleset.id

    @property
    def editable(self) -> bool:
        return self.path is not None

    @property
    def origin(self) -> str:
        if self.path is not None:
            copy = f" (copy of plugin {self.replaces})" if self.replaces else ""
            return f"file {self.path}{copy}"
        return f"plugin {self.plugin}"

    def saved_ruleset(self) -> Ruleset:
        """What is on disk (for a plugin ruleset: what the plugin ships)."""
        if self.path is None or not self.saved_text:
            return self.ruleset
        if self.saved is None:
            self.saved = dataclasses.replace(ruleset_io.loads(self.saved_text, str(self.path)), source=str(self.path))
        return self.saved

    def text_to_save(self) -> str:
        """The file with the edits applied item by item (comments and layout of the rest kept)."""
        text = edited_text(self.saved_text, self.saved_ruleset(), self.ruleset)
        if ruleset_io.content_hash(ruleset_io.loads(text, str(self.path))) != ruleset_io.content_hash(self.ruleset):
            return ruleset_io.dumps(self.ruleset)  # never write what does not read back as the edits
        return text

    def disk_text(self) -> str:
        """The file as it is now ("" when it is gone)."""
        assert self.path is not None
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return ""
        except (OSError, UnicodeDecodeError) as exc:
            raise RulesetError(f"cannot read: {exc}", source=str(self.path)) from None

    def refresh_dirty(self) -> None:
        self.dirty = ruleset_io.content_hash(self.ruleset) != ruleset_io.content_hash(self.saved_ruleset())


class Workspace:
    """All rulesets the engine loads, plus the user's unsaved edits."""

    def __init__(self, files: Iterable[str | Path] = (), copy_dir: str | Path = DEFAULT_COPY_DIR) -> None:
        self.copy_dir = Path(copy_dir)
        named = [Path(f) for f in files]
        found = sorted(self.copy_dir.glob("*.toml")) if self.copy_dir.is_dir() else []
        self.files: list[Path] = list(dict.fromkeys([*named, *found]))
        self.docs: dict[str, RulesetDoc] = {}
        self.problems: list[str] = []
        self.broken: list[str] = []  # files that did not load: the plugin's ruleset is shown instead
        self.undo_steps: list[tuple[str, str, Ruleset]] = []  # (what was done, ruleset id, ruleset before)
        self.reload()

    # --- loading ------------------------------------------------------------------
    def reload(self) -> None:
        """Read every file and plugin again (drops unsaved edits: callers check ``dirty`` first)."""
        with load_engine(rulesets=self.files, isolation="process") as engine:
            self.problems = list(engine.problems)
            self.docs = {}
            for entry in engine.rulesets:
                ruleset = entry.ruleset
                if entry.plugin is None:
                    path = Path(ruleset.source)
                    text = path.read_text(encoding="utf-8")
                    self.docs[ruleset.id] = RulesetDoc(ruleset, None, path, text, replaces=entry.replaced)
                else:
                    self.docs[ruleset.id] = RulesetDoc(ruleset, entry.plugin, None)
        loaded = {doc.path.resolve() for doc in self.docs.values() if doc.path is not None}
        self.broken = [
            next((p for p in self.problems if str(path) in p), f"{path}: could not be read")
            for path in self.files
            if path.resolve() not in loaded
        ]

    def doc(self, ruleset_id: str) -> RulesetDoc:
        try:
            return self.docs[ruleset_id]
        except KeyError:
            raise RulesetError(f"no ruleset {ruleset_id!r} is loaded") from None

    @property
    def dirty(self) -> list[RulesetDoc]:
        return [doc for doc in self.docs.values() if doc.dirty]

    def file_rulesets(self, override: Ruleset | None = None, saved: str | None = None) -> list[Ruleset]:
        """The rulesets to hand load_engine: every editable doc, as edited in memory.

        ``override`` stands in for the doc of the same id; ``saved`` names a doc to take
        as it is on disk (the "before" of an impact preview).
        """
        out = []
        for doc in self.docs.values():
            if not doc.editable:
                continue
            if override is not None and doc.id == override.id:
                out.append(override)
            elif doc.id == saved:
                out.append(doc.saved_ruleset())
            else:
                out.append(doc.ruleset)
        return out

    def build_engine(self, override: Ruleset | None = None, *, saved: str | None = None) -> Engine:
        """An engine over plugins plus the in-memory rulesets; durable_rules in a child process."""
        return load_engine(rulesets=self.file_rulesets(override, saved), isolation="process")

    # --- editable copies ----------------------------------------------------------
    def make_copy(self, ruleset_id: str, folder: str | Path | None = None) -> RulesetDoc:
        """Copy a plugin's ruleset, byte for byte, to ``folder/<id>.toml`` and edit that file from now on.

        The file then replaces the plugin's ruleset in every engine this TUI builds (and
        in ``calfrules -r FILE``). An existing copy is opened, never overwritten.
        """
        doc = self.doc(ruleset_id)
        if doc.editable:
            return doc
        path = Path(folder or self.copy_dir) / f"{ruleset_id}.toml"
        if path.exists():
            ruleset = ruleset_io.load(path)
            if ruleset.id != ruleset_id:
                raise RulesetError(f"{path} holds ruleset {ruleset.id!r}, not {ruleset_id!r}; move it away first")
            text = path.read_text(encoding="utf-8")
        else:
            text = copy_ruleset_file(shipped_path(doc.ruleset.source), path)
            ruleset = ruleset_io.loads(text, str(path))
        ruleset = dataclasses.replace(ruleset, source=str(path))
        new = RulesetDoc(ruleset, None, path, text, replaces=doc.plugin, saved=ruleset)
        self.docs[ruleset_id] = new
        if path not in self.files:
            self.files.append(path)
        return new

    # --- what someone else changed on disk ------------------------------------------------
    def changed_on_disk(self, ruleset_id: str) -> bool:
        doc = self.doc(ruleset_id)
        return doc.path is not None and doc.disk_text() != doc.saved_text

    def reload_doc(self, ruleset_id: str) -> RulesetDoc:
        """Read the file again, dropping this ruleset's edits (ctrl+z brings them back)."""
        doc = self.doc(ruleset_id)
        assert doc.path is not None
        text = doc.disk_text()
        ruleset = dataclasses.replace(ruleset_io.loads(text, str(doc.path)), source=str(doc.path))
        self._remember(f"reload {ruleset_id}", doc)
        doc.saved_text, doc.saved, doc.ruleset = text, ruleset, ruleset
        doc.refresh_dirty()
        return doc

    def merge_from_disk(self, ruleset_id: str) -> RulesetDoc:
        """Take the file as it is now and apply this session's edits on top (their items stay).

        Raises EditConflict, changing nothing, when both changed the same item.
        """
        doc = self.doc(ruleset_id)
        assert doc.path is not None
        text = doc.disk_text()
        theirs = dataclasses.replace(ruleset_io.loads(text, str(doc.path)), source=str(doc.path))
        merged_text = edited_text(text, doc.saved_ruleset(), doc.ruleset)
        merged = dataclasses.replace(ruleset_io.loads(merged_text, str(doc.path)), source=str(doc.path))
        self._remember(f"merge {ruleset_id}", doc)
        doc.saved_text, doc.saved, doc.ruleset = text, theirs, merged
        doc.refresh_dirty()
        return doc

    # --- edits (validated like a file would be; nothing is written) -----------------
    def _update(self, doc: RulesetDoc, what: str, **changes: object) -> Ruleset:
        if not doc.editable:
            raise RulesetError(f"{doc.id} comes from plugin {doc.plugin} and is read-only; make an editable copy")
        candidate = dataclasses.replace(doc.ruleset, **changes)  # type: ignore[arg-type]
        # round trip through TOML: the same checks as loading the saved file
        checked = ruleset_io.loads(ruleset_io.dumps(candidate), str(doc.path))
        self._remember(what, doc)
        doc.ruleset = dataclasses.replace(checked, source=str(doc.path))
        doc.refresh_dirty()
        return doc.ruleset

    def _remember(self, what: str, doc: RulesetDoc) -> None:
        self.undo_steps.append((what, doc.id, doc.ruleset))
        del self.undo_steps[:-UNDO_STEPS]

    def undo(self) -> str | None:
        """Take back the newest edit of this session; returns what it was (None: nothing to undo)."""
        if not self.undo_steps:
            return None
        what, ruleset_id, before = self.undo_steps.pop()
        doc = self.doc(ruleset_id)
        doc.ruleset = before
        doc.refresh_dirty()
        return what

    def put_rule(self, ruleset_id: str, rule: Rule, replacing: str | None = None) -> Ruleset:
        """Add a rule, or replace rule ``replacing`` (keeping its place)."""
        doc = self.doc(ruleset_id)
        rules = list(doc.ruleset.rules)
        if replacing is None:
            if doc.ruleset.rule(rule.id):
                raise RulesetError(f"a rule with id {rule.id!r} already exists; choose another id")
            rules.append(rule)
        else:
            index = next((i for i, r in enumerate(rules) if r.id == replacing), None)
            if index is None:
                raise RulesetError(f"no rule {replacing!r} in {ruleset_id}")
            if rule.id != replacing and doc.ruleset.rule(rule.id):
                raise RulesetError(f"a rule with id {rule.id!r} already exists; choose another id")
            rules[index] = rule
        return self._update(doc, f"{'edit' if replacing else 'add'} rule {rule.id}", rules=tuple(rules))

    def delete_rule(self, ruleset_id: str, rule_id: str) -> Ruleset:
        doc = self.doc(ruleset_id)
        return self._update(doc, f"delete rule {rule_id}", rules=tuple(r for r in doc.ruleset.rules if r.id != rule_id))

    def duplicate_rule(self, ruleset_id: str, rule_id: str) -> Rule:
        doc = self.doc(ruleset_id)
        rule = doc.ruleset.rule(rule_id)
        if rule is None:
            raise RulesetError(f"no rule {rule_id!r} in {ruleset_id}")
        copy = dataclasses.replace(rule, id=unique_id(f"{rule_id}_copy", {r.id for r in doc.ruleset.rules}))
        self.put_rule(ruleset_id, copy)
        return copy

    def put_condition(self, ruleset_id: str, info: ConditionInfo) -> Ruleset:
        """Declare a condition (or relabel one this ruleset declares)."""
        doc = self.doc(ruleset_id)
        others = tuple(c for c in doc.ruleset.conditions if c.id != info.id)
        return self._update(doc, f"declare condition {info.id}", conditions=(*others, info))

    def put_golden(self, ruleset_id: str, test: GoldenCase) -> Ruleset:
        doc = self.doc(ruleset_id)
        if any(t.id == test.id for t in doc.ruleset.tests):
            raise RulesetError(f"a golden case with id {test.id!r} already exists; choose another id")
        return self._update(doc, f"add golden case {test.id}", tests=(*doc.ruleset.tests, test))

    def delete_golden(self, ruleset_id: str, test_id: str) -> Ruleset:
        doc = self.doc(ruleset_id)
        return self._update(
            doc, f"delete golden case {test_id}", tests=tuple(t for t in doc.ruleset.tests if t.id != test_id)
        )

    def mark_saved(self, ruleset_id: str, text: str) -> None:
        doc = self.doc(ruleset_id)
        doc.saved_text = text
        doc.saved = doc.ruleset
        doc.dirty = False


def unique_id(base: str, taken: set[str]) -> str:
    if base not in taken:
        return base
    n = 2
    while f"{base}_{n}" in taken:
        n += 1
    return f"{base}_{n}"
