"""Why validation rejects a whole file, as a machine-readable rule plus a message for people."""

from __future__ import annotations

from typing import Any


class FileRejected(Exception):  # noqa: N818 - an outcome (quarantine), not a fault
    """The file as a whole breaks the contract; it goes to failed/validation_failed/."""

    def __init__(
        self, rule: str, message: str, *, column: str | None = None, **details: Any
    ) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule
        self.message = message
        self.column = column
        self.details = details
