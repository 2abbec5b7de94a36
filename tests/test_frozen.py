"""rules/frozen.py makes the class dataclass(frozen=True) would, methods compiled in one go."""

from __future__ import annotations

import copy
import dataclasses
import inspect
from typing import Any

import pytest

from calfrules.rules import frozen


def _declare(decorate: Any) -> type:
    class Point:
        x: int
        label: str = "p"
        tags: list[str] = dataclasses.field(default_factory=list)

    return decorate(Point)  # type: ignore[no-any-return]


def _both() -> tuple[type, type]:
    ours = _declare(frozen.frozen_dataclass(frozen=True))
    frozen.make_methods()
    return ours, _declare(dataclasses.dataclass(frozen=True))


def test_a_frozen_dataclass_behaves_as_dataclasses_makes_it() -> None:
    ours, theirs = _both()
    a, b = ours(1, tags=["t"]), theirs(1, tags=["t"])
    assert repr(a) == repr(b) and str(inspect.signature(ours)) == str(inspect.signature(theirs))
    assert ours.__doc__ == theirs.__doc__ and dataclasses.is_dataclass(a)
    assert vars(a) == vars(b) and list(vars(a)) == [f.name for f in dataclasses.fields(a)]
    assert a == ours(1, "p", ["t"]) and a != ours(2, tags=["t"]) and a != b  # another class is never equal
    assert ours(1).tags is not ours(1).tags  # a default factory makes one per instance
    assert hash(ours(1, "q", ())) == hash(theirs(1, "q", ()))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        hash(a)  # a list field: unhashable, as a dataclass would be
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'x'"):
        a.x = 2
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot delete field 'label'"):
        del a.label
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.other = 1
    with pytest.raises(TypeError):
        ours()
    assert dataclasses.replace(a, x=5).x == 5 and copy.deepcopy(a) == a  # pickling: test_outcome_plan
    assert ours.__init__.__qualname__ == "_declare.<locals>.Point.__init__"


def test_a_class_that_is_not_frozen_is_refused() -> None:
    with pytest.raises(TypeError, match="frozen classes only"):
        frozen.frozen_dataclass(frozen=False)


def test_a_field_left_out_of_comparison_repr_or_hash_is_left_out_as_dataclasses_does() -> None:
    def declare(decorate: Any) -> type:
        class Tagged:
            id: str
            origin: str = dataclasses.field(default="", compare=False)
            secret: str = dataclasses.field(default="", repr=False)
            note: str = dataclasses.field(default="", hash=False)

        return decorate(Tagged)  # type: ignore[no-any-return]

    ours = declare(frozen.frozen_dataclass(frozen=True))
    frozen.make_methods()
    theirs = declare(dataclasses.dataclass(frozen=True))
    for cls in (ours, theirs):
        assert cls("a", origin="x.toml") == cls("a", origin="plugin:y")  # origin is not compared
        assert hash(cls("a", origin="x")) == hash(cls("a")) and hash(cls("a", note="n")) == hash(cls("a"))
        assert cls("a", note="n") != cls("a")  # hash=False still compares
    assert repr(ours("a", "o", "s", "n")).replace("Tagged", "") == repr(theirs("a", "o", "s", "n")).replace(
        "Tagged", ""
    )
    assert "secret" not in repr(ours("a"))
