"""Random strings that match a contract column's ``pattern``, so generated files validate.

A contract's pattern is the only description of a string column the generator has. Walking the
parsed regular expression (Python's own parser; contract patterns are RE2, a subset for these
purposes) and choosing at every node gives a value that matches by construction. Unbounded
repeats (``+``, ``*``) are capped short, and a set is sampled from letters and digits first, so
values look like identifiers rather than line noise.
"""

from __future__ import annotations

# Python's own regular-expression parser (its old name, sre_parse, warns since 3.11).
import re._constants as sre_constants  # type: ignore[import-not-found]
import re._parser as sre_parse  # type: ignore[import-not-found]
import string
from typing import Any

import numpy as np

MAX_REPEAT = 8
"""The most repetitions an unbounded repeat (``+``, ``*``, ``{n,}``) gets beyond its minimum."""
_PREFERRED = string.ascii_letters + string.digits
_PRINTABLE = _PREFERRED + " _-.:/"
_CATEGORIES = {
    sre_constants.CATEGORY_DIGIT: string.digits,
    sre_constants.CATEGORY_NOT_DIGIT: string.ascii_letters,
    sre_constants.CATEGORY_WORD: _PREFERRED + "_",
    sre_constants.CATEGORY_NOT_WORD: " -.",
    sre_constants.CATEGORY_SPACE: " ",
    sre_constants.CATEGORY_NOT_SPACE: _PREFERRED,
}


def _set_members(items: list[tuple[Any, Any]]) -> str:
    """The characters a ``[...]`` set accepts, among the printable ones."""
    negate = bool(items) and items[0][0] is sre_constants.NEGATE
    chosen: set[str] = set()
    for op, arg in items[1:] if negate else items:
        if op is sre_constants.LITERAL:
            chosen.add(chr(arg))
        elif op is sre_constants.RANGE:
            chosen.update(chr(c) for c in range(arg[0], arg[1] + 1))
        elif op is sre_constants.CATEGORY:
            chosen.update(_CATEGORIES.get(arg, ""))
    if negate:
        return "".join(c for c in _PRINTABLE if c not in chosen)
    preferred = "".join(c for c in _PREFERRED if c in chosen)
    return preferred or "".join(sorted(chosen))


def _emit(rng: np.random.Generator, tokens: Any, out: list[str]) -> None:
    for op, arg in tokens:
        if op is sre_constants.LITERAL:
            out.append(chr(arg))
        elif op is sre_constants.NOT_LITERAL:
            out.append(next(c for c in _PREFERRED if ord(c) != arg))
        elif op is sre_constants.ANY:
            out.append(_PREFERRED[int(rng.integers(len(_PREFERRED)))])
        elif op is sre_constants.IN:
            members = _set_members(arg)
            out.append(members[int(rng.integers(len(members)))] if members else "x")
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
            low, high, sub = arg
            high = low + MAX_REPEAT if high is sre_constants.MAXREPEAT else min(high, low + 16)
            for _ in range(int(rng.integers(low, high + 1))):
                _emit(rng, sub, out)
        elif op is sre_constants.SUBPATTERN:
            _emit(rng, arg[-1], out)
        elif op is sre_constants.BRANCH:
            branches = arg[1]
            _emit(rng, branches[int(rng.integers(len(branches)))], out)
        elif op is sre_constants.CATEGORY:
            chars = _CATEGORIES.get(arg, "x")
            out.append(chars[int(rng.integers(len(chars)))])
        # AT (anchors) and other zero-width nodes emit nothing.


def sample(rng: np.random.Generator, pattern: str) -> str:
    """One random string the whole of which matches ``pattern``."""
    out: list[str] = []
    _emit(rng, sre_parse.parse(pattern), out)
    return "".join(out)
