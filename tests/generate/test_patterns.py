"""Strings sampled from a contract column's pattern match it."""

from __future__ import annotations

import re

import numpy as np
import pytest

from mdp.generate.patterns import sample


@pytest.mark.parametrize(
    "pattern",
    [
        r"[A-Za-z0-9][A-Za-z0-9_\-]{0,63}",
        r"O[0-9]{1,9}",
        r"[^@ ]+@[^@ ]+",
        r"(EUR|USD|GBP)",
        r"UC[A-Za-z0-9_-]{22}",
        r"\d{3}-\w+",
        r"[A-Z]{2}\.?[0-9]*",
        r"a.b",
    ],
)
def test_samples_match_their_pattern(pattern: str) -> None:
    rng = np.random.default_rng(7)
    values = [sample(rng, pattern) for _ in range(300)]
    assert all(re.fullmatch(pattern, v) for v in values), [
        v for v in values if not re.fullmatch(pattern, v)
    ][:5]
    assert len(set(values)) > 1 or pattern == "a.b"
