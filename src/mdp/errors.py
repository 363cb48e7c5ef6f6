"""One error family for every step.

The orchestrator needs exactly one bit from a failure: retry it or not. ``TerminalError`` means the
input is bad and retrying cannot help (quarantine it); ``TransientError`` means the world was
unwell (network, database, busy lock) and the same call may succeed later. Every error carries the
context a person needs to find the file again: object key, run id and, for data errors, the rule.
"""

from __future__ import annotations

from typing import Any

from mdp import exitcodes


class MdpError(Exception):
    """Root of all platform errors; carries key/run context for logs and audit rows."""

    terminal: bool = False

    def __init__(self, message: str, *, key: str | None = None, run_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.key = key
        self.run_id = run_id

    def context(self) -> dict[str, Any]:
        """The error as a JSON-ready dict, for ``.error.json`` reports and the audit log."""
        return {
            "error": type(self).__name__,
            "message": self.message,
            "key": self.key,
            "run_id": self.run_id,
            "terminal": self.terminal,
        }


class TerminalError(MdpError):
    """The input itself is wrong: quarantine, never retry."""

    terminal = True


class TransientError(MdpError):
    """A fault outside the data (network, database, lock held elsewhere): safe to retry."""


class ConfigError(TerminalError):
    """Configuration is missing or invalid; retrying with the same environment cannot help."""


class ObjectMissingError(TerminalError):
    """The object the step was asked to process does not exist (and has no audit record)."""


class Quarantined(TerminalError):  # noqa: N818 - an outcome the orchestrator must see
    """Retries ran out: the raw file was moved to failed/<stage>/ with a report (exit 3)."""


class BusyError(TransientError):
    """Another run holds the claim on this object right now."""


class MissingDependencyError(MdpError):
    """An optional dependency for this step is not installed; names the extra that provides it."""

    terminal = True

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(
            f"the '{module}' package is needed here but not installed; "
            f"install it with: pip install 'mini-data-platform[{extra}]' "
            f"(or `uv sync --extra {extra}`)"
        )


def exit_code(error: BaseException) -> int:
    """The exit code of a command that ended with ``error``: quarantined (3), terminal (4), or a
    fault worth retrying (1), which is also what an error outside this family is."""
    if isinstance(error, Quarantined):
        return exitcodes.REJECTED
    if isinstance(error, MdpError):
        return exitcodes.TERMINAL if error.terminal else exitcodes.FAULT
    return exitcodes.FAULT


def require(module: str, extra: str) -> None:
    """Fail with an install hint instead of a bare ImportError when an extra is missing."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise MissingDependencyError(module, extra)
