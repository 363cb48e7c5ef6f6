"""The extensions a contract may name are exactly the modules of mdp.extensions, each naming
itself: mdp contracts check lists them from the directory (without importing them), the steps
look them up in EXTENSIONS, and both must agree."""

from __future__ import annotations

import importlib

import pytest

from mdp.contracts.checks import known_extensions
from mdp.extensions import EXTENSIONS, PLAIN, Extension


def test_the_names_contracts_accept_are_the_registered_extensions() -> None:
    assert known_extensions() == sorted(EXTENSIONS) == ["youtube_metrics"]


@pytest.mark.parametrize("name", known_extensions())
def test_each_extension_module_defines_the_extension_of_its_name(name: str) -> None:
    module = importlib.import_module(f"mdp.extensions.{name}")
    assert isinstance(module.EXTENSION, Extension)
    assert module.EXTENSION.name == name
    assert EXTENSIONS[name] is module.EXTENSION


def test_a_plain_dataset_has_no_extension_work() -> None:
    youtube = importlib.import_module("mdp.contracts").get_contract("youtube")
    assert PLAIN.tables(youtube) == ()
    assert PLAIN.collector(youtube) is None
