"""One registry mechanism (as in timm and smp): things register by name; an unknown name lists the valid ones.

Every named choice in segcompare is a `Registry`: model architectures, encoders and listed models
(`segcompare.zoo`), losses, optimizers and schedulers, datasets, corruptions and label taxonomies.
`registries()` lists them all, so a test can check each one the same way.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from .errors import UserError

T = TypeVar("T")
_ALL: dict[str, Registry] = {}


class Registry(Generic[T]):
    """Names -> objects, kept in registration order (the order of plots and tables)."""

    def __init__(self, kind: str, hint: str = ""):
        self.kind = kind
        self.hint = hint  # appended to the unknown-name message, e.g. how sums of losses are written
        self._items: dict[str, T] = {}
        _ALL.setdefault(kind, self)

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            self.add(name, obj)
            return obj

        return deco

    def add(self, name: str, obj: T) -> None:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._items[name] = obj

    def get(self, name: str) -> T:
        if name not in self._items:
            raise UserError(self.unknown(name))
        return self._items[name]

    def unknown(self, name, limit: int = 40) -> str:
        """The one-line message for a name this registry does not hold."""
        return unknown(self.kind, name, self._items, limit) + (f" {self.hint}" if self.hint else "")

    def names(self) -> list[str]:
        """Sorted names (for listings); `ordered()` keeps registration order."""
        return sorted(self._items)

    def ordered(self) -> list[str]:
        return list(self._items)

    def items(self) -> list[tuple[str, T]]:
        return list(self._items.items())

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)


def registries() -> dict[str, Registry]:
    """Every registry created so far, by kind (import the modules that fill them first)."""
    return dict(_ALL)


def unknown(kind: str, name: str, valid, limit: int = 40) -> str:
    """One-line message for an unknown name: close matches first, then the valid names."""
    valid = sorted(valid)
    close = difflib.get_close_matches(str(name), valid, n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    shown = ", ".join(valid[:limit]) + (f", ... ({len(valid)} in all)" if len(valid) > limit else "")
    return f"unknown {kind} {name!r}.{hint} Valid: {shown}"
