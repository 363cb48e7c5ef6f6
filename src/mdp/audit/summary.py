"""What one orchestrator run did, from the audit log: the DAG prints this as its last task.

Why from the audit log and not from task states: a task state says whether a pod exited 0, the
audit row says what happened to the file (accepted and loaded, a duplicate, rejected with a rule,
failed after retries) and how many rows it brought, which is what the person reading the run wants.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

# Audit statuses grouped into what a run summary reports.
_GROUPS = {
    "loaded": "accepted",
    "duplicate": "duplicate",
    "validation_failed": "rejected",
    "processing_failed": "failed",
    "loading_failed": "failed",
    "received": "unfinished",
    "validated": "unfinished",
    "transformed": "unfinished",
}


@dataclass
class RunSummary:
    run_id: str
    files: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("accepted", "duplicate", "rejected", "failed", "unfinished"), 0
        )
    )
    rows_loaded: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_rejected: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)
    """Rejected, failed and unfinished files: key, status, contract and the rule or error."""
    contracts: dict[str, int] = field(default_factory=dict)
    """Files per contract version that validated them ("sales v2": 3)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "files": dict(self.files),
            "rows_loaded": self.rows_loaded,
            "rows_inserted": self.rows_inserted,
            "rows_updated": self.rows_updated,
            "rows_rejected": self.rows_rejected,
            "problems": self.problems,
            "contracts": dict(self.contracts),
        }

    def render(self) -> str:
        """A few lines a person reads in the task log."""
        f = self.files
        lines = [
            f"run {self.run_id}: {sum(f.values())} file(s)",
            f"  accepted {f['accepted']}, duplicate {f['duplicate']}, rejected {f['rejected']}, "
            f"failed {f['failed']}, unfinished {f['unfinished']}",
            f"  rows loaded {self.rows_loaded} (inserted {self.rows_inserted}, updated "
            f"{self.rows_updated}), rows rejected {self.rows_rejected}",
        ]
        if self.contracts:
            used = ", ".join(f"{name} ({n} file(s))" for name, n in sorted(self.contracts.items()))
            lines.append(f"  contracts {used}")
        lines += [
            f"  {p['status']:<18} {p['key']}  {p['reason']}"
            + (f"  [{p['contract']}]" if p.get("contract") else "")
            for p in self.problems
        ]
        return "\n".join(lines)


NOT_RECORDED = "not_recorded"
"""Status reported for an expected file that has no audit row of this run."""


def summarise_run(
    conn: psycopg.Connection, run_id: str, expected: Sequence[str] = ()
) -> RunSummary:
    """The summary of every audit row last touched by ``run_id``, plus every ``expected`` key
    (the files the orchestrator handed to the run) that has no such row.

    Why ``expected``: a file that failed before its first step wrote an audit row (deleted after
    discovery, a step that could not start) would otherwise vanish from the report of a red run.
    Such a file counts as failed, with the reason the audit log can give.
    """
    summary = RunSummary(run_id)
    rows = conn.execute(
        "SELECT object_key, status, coalesce(rows_inserted, 0), coalesce(rows_updated, 0),"
        " coalesce(rows_rejected, 0), error, contract_name || ' v' || contract_version"
        " FROM audit.file_ingestion_log WHERE run_id = %s ORDER BY id",
        (run_id,),
    ).fetchall()
    for key, status, inserted, updated, rejected, error, contract in rows:
        group = _GROUPS.get(status, "unfinished")
        summary.files[group] += 1
        summary.rows_inserted += inserted
        summary.rows_updated += updated
        summary.rows_rejected += rejected
        if contract is not None:
            summary.contracts[contract] = summary.contracts.get(contract, 0) + 1
        if group in {"rejected", "failed", "unfinished"}:
            reason = ""
            if isinstance(error, dict):
                reason = str(error.get("rule") or error.get("error") or "")
                if error.get("message"):
                    reason += f": {error['message']}"
            summary.problems.append(
                {"key": key, "status": status, "reason": reason[:300], "contract": contract}
            )
    seen = {key for key, *_ in rows}
    for key in dict.fromkeys(k for k in expected if k not in seen):
        summary.files["failed"] += 1
        summary.problems.append(
            {"key": key, "status": NOT_RECORDED, "reason": _not_recorded_reason(conn, key)}
        )
    summary.rows_loaded = summary.rows_inserted + summary.rows_updated
    return summary


def _not_recorded_reason(conn: psycopg.Connection, key: str) -> str:
    last = conn.execute(
        "SELECT run_id, status FROM audit.file_ingestion_log WHERE object_key = %s"
        " ORDER BY id DESC LIMIT 1",
        (key,),
    ).fetchone()
    if last is not None:
        return (
            f"no audit row of this run (the file's last row is {last[1]!r} of run {last[0]}); "
            "the step tasks' logs say why"
        )
    return (
        "no audit row: the file failed before its first step recorded it (object gone, or the "
        "step pod never ran); the step tasks' logs say why"
    )
