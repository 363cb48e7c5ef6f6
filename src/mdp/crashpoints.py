"""Named crash points: a test-only switch that makes a step die between two of its effects.

Random kills almost always land in start-up, so they cannot show that a step survives being
killed *between* two effects (an audit write and the object move that follows it, a commit and
the archive after it). Every effect of every step is therefore followed by ``crash_point(name)``,
and the crash-point sweep (tests/test_crash_sweep.py) kills each step at each point in turn, reruns
it as the orchestrator would, and checks that nothing was lost or doubled.

TEST ONLY. ``MDP__CRASH_AT`` is read once, when this module is first imported (process start);
it is unset in every deployment and then ``crash_point`` does nothing but a set lookup. The value
is a comma-separated list of point names, each optionally followed by an action:

- ``load.after_commit`` or ``load.after_commit:kill``: SIGKILL this process there (no cleanup,
  no ``finally``, no flush: what an OOM kill or a node loss does);
- ``load.after_commit:pause``: SIGSTOP this process there, so a test can restart PostgreSQL or
  MinIO underneath it and then SIGCONT it.

``POINTS`` is the registry of every point in the order the effects happen; the sweep enumerates it,
and a point it never reaches fails the sweep, so the list cannot rot.
"""

from __future__ import annotations

import os
import signal

from mdp.errors import ConfigError

ENV = "MDP__CRASH_AT"

POINTS: dict[str, str] = {
    # validate
    "validate.after_received": "audit row found or created (attempts counted), nothing moved",
    "validate.after_rejects_put": "staging rejects.parquet written, data.parquet not yet",
    "validate.after_data_put": "staging data.parquet written, audit row still 'received'",
    "validate.after_validated": "audit row 'validated', result not yet reported",
    "validate.duplicate.after_intent": "row says duplicate with its final_key; file in incoming/",
    "validate.duplicate.after_move": "duplicate archived; audit row not yet finished",
    "validate.reject.after_intent": "row says validation_failed with its final_key; file in place",
    "validate.reject.after_move": "rejected file quarantined; audit row not yet finished",
    # transform
    "transform.after_first_put": "one transformed Parquet written, the others not",
    "transform.after_puts": "every transformed Parquet written, audit row still 'validated'",
    "transform.after_transformed": "audit row 'transformed', result not yet reported",
    # load
    "load.before_commit": "rows merged and row marked loaded inside the open transaction",
    "load.after_commit": "rows and 'loaded' committed; raw file still in incoming/",
    "load.after_intent": "archive key recorded on the row; raw file still in incoming/",
    "load.after_move": "raw file archived; audit row not yet finished",
    "load.after_archived": "audit row finished; staging/transformed outputs not yet deleted",
    "retention.after_first_delete": "one derived object deleted, the others not",
    # a fault in transform or load (pipeline.guard_stage)
    "fault.after_error_recorded": "fault recorded on the row before asking for a retry",
    "quarantine.after_intent": "row says <stage>_failed with its final_key; file in incoming/",
    "quarantine.after_move": "file moved to failed/<stage>/; audit row not yet finished",
    # object store (every move and quarantine of every step)
    "store.after_report": "error report written next to the failed/ key, file not yet moved",
    "store.after_copy": "moved file copied to its target, source not yet deleted",
}
ACTIONS = ("kill", "pause")


def _parse(value: str) -> dict[str, str]:
    armed: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, _, action = item.partition(":")
        armed[name] = action or "kill"
    return armed


_ARMED = _parse(os.environ.get(ENV, ""))
_FIRED: set[str] = set()


def check() -> None:
    """Refuse unknown point names or actions (a typo would silently test nothing)."""
    unknown = sorted(n for n in _ARMED if n not in POINTS)
    bad = sorted(a for a in _ARMED.values() if a not in ACTIONS)
    if unknown or bad:
        raise ConfigError(
            f"{ENV}: unknown crash point(s) {unknown} or action(s) {bad}; "
            f"points: {sorted(POINTS)}, actions: {list(ACTIONS)}"
        )


def crash_point(name: str) -> None:
    """Die (or stop) here if a test armed ``name``; otherwise do nothing."""
    if name not in POINTS:
        raise KeyError(f"unregistered crash point {name!r}")
    action = _ARMED.get(name)
    if action is None or name in _FIRED:
        return
    _FIRED.add(name)  # a point inside a loop fires once per process
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "pause":
        os.kill(os.getpid(), signal.SIGSTOP)
