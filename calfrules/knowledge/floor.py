"""The red-flag floor: entries can be added or raised, never removed or lowered."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from calfrules.rules.errors import PluginError
from calfrules.rules.model import FloorEntry, Ruleset, Source


@dataclass
class Floor:
    entries: dict[str, FloorEntry] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)
    # the published sources each entry cites, resolved from the ruleset that declared it
    sources: dict[str, tuple[Source, ...]] = field(default_factory=dict)

    def add(self, entry: FloorEntry, origin: str, ruleset: Ruleset | None = None) -> None:
        """Add a new entry or raise an existing one; refuse anything that would weaken it."""
        known = self.entries.get(entry.id)
        if known is None:
            self.entries[entry.id] = entry
            self.origin[entry.id] = origin
            self.sources[entry.id] = resolve_sources(ruleset, entry.references)
            return
        if known.when != entry.when:
            raise PluginError(
                f"floor entry {entry.id!r} from {origin} changes its condition "
                f"({known.when!r} -> {entry.when!r}); a floor entry's condition cannot change"
            )
        if entry.level < known.level:
            raise PluginError(
                f"floor entry {entry.id!r} from {origin} would lower the level from "
                f"{known.level.value} to {entry.level.value}; the floor can only go up"
            )
        if entry.level > known.level:
            self.entries[entry.id] = entry
            self.origin[entry.id] = f"{self.origin[entry.id]}, raised by {origin}"
            self.sources[entry.id] += resolve_sources(ruleset, entry.references)

    def __iter__(self) -> Iterator[FloorEntry]:
        return iter(self.entries.values())

    def __len__(self) -> int:
        return len(self.entries)

    def __delitem__(self, key: str) -> None:
        raise PluginError(f"floor entry {key!r} cannot be removed")


def resolve_sources(ruleset: Ruleset | None, ids: tuple[str, ...]) -> tuple[Source, ...]:
    """The references a ruleset declares under these ids, as sources (unknown ids are skipped)."""
    if ruleset is None:
        return ()
    found = (ruleset.reference(ref_id) for ref_id in dict.fromkeys(ids))
    return tuple(Source(ref.id, ref.citation, ref.url) for ref in found if ref is not None)
