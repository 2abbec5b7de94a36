"""Frozen dataclasses whose methods are compiled all at once: cheap to import, cheap to build.

``@dataclass(frozen=True)`` compiles six methods per class, one ``exec`` each, which made
importing ``engine.assessment`` the largest single cost of start-up. ``frozen_dataclass``
makes the same class: the same fields and ``__init__`` signature, the same ``__repr__``,
``__eq__`` and ``__hash__`` (a field's ``compare``, ``hash`` and ``repr`` are honoured), assigning
or deleting a field raises ``FrozenInstanceError``.
``make_methods`` makes them for every class declared so far: the ``__init__``s compiled in one
go, the others closures over the field names. Its ``__init__`` fills ``__dict__`` directly
(dataclasses' calls ``object.__setattr__`` per field, most of the cost of building an assessment).
"""

from __future__ import annotations

import inspect
import operator
import reprlib
from collections.abc import Callable
from dataclasses import MISSING, Field, FrozenInstanceError, dataclass, fields
from typing import Any, TypeVar

T = TypeVar("T")
_FACTORY = type("_Factory", (), {"__repr__": lambda self: "<factory>"})()  # a default made per instance
_pending: list[tuple[type, bool]] = []  # declared classes without methods yet, and whether they had no docstring


def frozen_dataclass(*, frozen: bool = True) -> Callable[[type[T]], type[T]]:
    """``dataclass(frozen=True)``, its methods made by the next ``make_methods()``."""
    if not frozen:
        raise TypeError("frozen_dataclass makes frozen classes only")

    def declare(cls: type[T]) -> type[T]:
        undocumented = cls.__dict__.get("__doc__") is None
        if undocumented:  # for now: dataclass would work one out from a signature the class does not have yet
            cls.__doc__ = "-"
        _pending.append((dataclass(init=False, repr=False, eq=False)(cls), undocumented))
        return cls

    return declare


def make_methods() -> None:
    """Make the methods of every class declared since the last call: the ``__init__``s compiled in one go,
    the others closures over the field names (nothing to compile)."""
    scope: dict[str, Any] = {"_FACTORY": _FACTORY}
    source: list[str] = []
    for number, (cls, _) in enumerate(_pending):
        source.extend(_init_source(number, fields(cls), scope))
    exec(compile("\n".join(source), f"<frozen_dataclass {__name__}>", "exec"), scope)
    for number, (cls, undocumented) in enumerate(_pending):
        class_fields = fields(cls)
        init = scope[f"_init{number}"]
        init.__annotations__ = {f.name: f.type for f in class_fields} | {"return": None}
        methods = {"__init__": init, **_methods(cls, class_fields)}
        for name, method in methods.items():
            method.__name__, method.__qualname__ = name, f"{cls.__qualname__}.{name}"
            setattr(cls, name, method)
        if undocumented:  # as dataclasses writes it: the class's signature
            cls.__doc__ = cls.__name__ + str(inspect.signature(cls)).replace(" -> None", "")
    _pending.clear()


def _init_source(number: int, class_fields: tuple[Field[Any], ...], scope: dict[str, Any]) -> list[str]:
    params, body = [], []
    for f in class_fields:
        if f.default is not MISSING:
            scope[f"_d{number}_{f.name}"] = f.default
            params.append(f"{f.name}=_d{number}_{f.name}")
        elif f.default_factory is not MISSING:
            scope[f"_f{number}_{f.name}"] = f.default_factory
            params.append(f"{f.name}=_FACTORY")
            body.append(f"    if {f.name} is _FACTORY: {f.name} = _f{number}_{f.name}()")
        else:
            params.append(f.name)
    body.append("    d = self.__dict__")
    body.extend(f"    d[{f.name!r}] = {f.name}" for f in class_fields)
    return [f"def _init{number}(self, {', '.join(params)}):", *body]


def _getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """The values of these fields of an object, as a tuple (in C when there are several)."""
    if not names:
        return lambda obj: ()
    if len(names) == 1:
        one = operator.attrgetter(names[0])
        return lambda obj: (one(obj),)
    return operator.attrgetter(*names)


def _methods(cls: type[Any], class_fields: tuple[Field[Any], ...]) -> dict[str, Callable[..., Any]]:
    """What dataclass(frozen=True) writes for a class with these fields, as closures."""
    names = tuple(f.name for f in class_fields)
    shown_names = tuple(f.name for f in class_fields if f.repr)
    shown_values = _getter(shown_names)
    compared = _getter(tuple(f.name for f in class_fields if f.compare))
    hashed = _getter(tuple(f.name for f in class_fields if (f.compare if f.hash is None else f.hash)))

    @reprlib.recursive_repr()
    def __repr__(self: Any) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in zip(shown_names, shown_values(self), strict=True))
        return f"{self.__class__.__qualname__}({shown})"

    def __eq__(self: Any, other: Any) -> Any:
        if other.__class__ is self.__class__:
            return compared(self) == compared(other)
        return NotImplemented

    def __hash__(self: Any) -> int:
        return hash(hashed(self))

    def __setattr__(self: Any, name: str, value: Any) -> None:
        if type(self) is cls or name in names:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)

    def __delattr__(self: Any, name: str) -> None:
        if type(self) is cls or name in names:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)

    return {
        "__repr__": __repr__,
        "__eq__": __eq__,
        "__hash__": __hash__,
        "__setattr__": __setattr__,
        "__delattr__": __delattr__,
    }
