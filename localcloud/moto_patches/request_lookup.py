"""Per request: moto's module list and each response class's method names, computed once.

Why and what is measured: "Per request: no directory listing, no class introspection" in the package
docstring (:mod:`localcloud.moto_patches`).
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

from moto import backends as moto_backends
from moto.core import responses as moto_responses

from localcloud.moto_patches import registry

_MOTO_MODULES: tuple[str, ...] | None = None


def _moto_modules() -> tuple[str, ...]:
    """``moto.backends.list_of_moto_modules()``, listed once."""
    global _MOTO_MODULES
    if _MOTO_MODULES is None:
        _MOTO_MODULES = tuple(registry.modules.original(moto_backends, "list_of_moto_modules")())
    return _MOTO_MODULES


@functools.cache
def _method_names(clazz: type) -> tuple[str, ...]:
    """``moto.core.responses.method_names_from_class``, once per class (its methods do not change)."""
    return tuple(registry.modules.original(moto_responses, "method_names_from_class")(clazz))


def module_replacements() -> dict[tuple[ModuleType, str], Any]:
    return {(moto_backends, "list_of_moto_modules"): _moto_modules,
            (moto_responses, "method_names_from_class"): _method_names}

