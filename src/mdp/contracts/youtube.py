"""The built-in ``youtube`` contract (contracts/youtube.yaml), for code that needs it by name: the
generator and tests. Pipeline steps use ``get_contract``, which honours ``CONTRACTS__DIR``."""

from __future__ import annotations

from mdp.contracts.registry import builtin_contract

YOUTUBE = builtin_contract("youtube")
