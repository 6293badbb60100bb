"""chalicelib.ports re-exports every port lazily: each name resolves to its submodule's object."""

from __future__ import annotations

import importlib

import pytest

import chalicelib.ports as ports


def test_every_exported_name_resolves_to_its_submodule() -> None:
    assert sorted(ports._MODULE_OF) == sorted(ports.__all__)
    for name, module in ports._MODULE_OF.items():
        assert getattr(ports, name) is getattr(importlib.import_module(f"chalicelib.ports.{module}"), name), name


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        ports.NoSuchPort  # noqa: B018
