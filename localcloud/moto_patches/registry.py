"""What the patches share: the lock, the registries of moto's replaced attributes, and the source hash.

A :class:`Replacements` remembers moto's own attribute for every one it replaces, so that
:func:`localcloud.moto_patches.uninstall` can put each back.
"""

from __future__ import annotations

import hashlib
import inspect
import threading
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, Generic, TypeVar

_Owner = TypeVar("_Owner")

#: held while the patches are installed or uninstalled
lock = threading.Lock()


class Replacements(Generic[_Owner]):
    """(owner, attribute name) → moto's own attribute, while the replacements are installed."""

    def __init__(self, read: Callable[[_Owner, str], Any]) -> None:
        self._read = read
        self._originals: dict[tuple[_Owner, str], Any] = {}

    def install(self, replacements: Mapping[tuple[_Owner, str], Any]) -> None:
        """Remember each original and set its replacement — unless they are already installed."""
        if self._originals:
            return
        for (owner, name), replacement in replacements.items():
            self._originals[(owner, name)] = self._read(owner, name)
            setattr(owner, name, replacement)

    def uninstall(self) -> None:
        """Put every original back and forget them."""
        for (owner, name), original in self._originals.items():
            setattr(owner, name, original)
        self._originals.clear()

    def original(self, owner: _Owner, name: str) -> Any:
        """moto's own attribute, while its replacement is installed (KeyError otherwise)."""
        return self._originals[(owner, name)]


def _own_attribute(owner: type, name: str) -> Any:
    return owner.__dict__[name]


#: attributes replaced on moto's classes, read from the class's own ``__dict__`` (the raw function or property)
classes: Replacements[type] = Replacements(_own_attribute)
#: functions replaced on moto's modules
modules: Replacements[ModuleType] = Replacements(getattr)


def source_sha256(func: Any) -> str | None:
    """sha256 of ``func``'s source, or None when its source cannot be read."""
    try:
        return hashlib.sha256(inspect.getsource(func).encode()).hexdigest()
    except (OSError, TypeError):
        return None
