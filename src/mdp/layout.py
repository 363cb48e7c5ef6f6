"""The object layout in the bucket: one prefix per stage (docs/pipeline.md, "Object layout").

Every key the platform writes is built here, so the layout is defined in one place and the
invariant "every incoming object ends in archive/ or failed/<stage>/" can be checked against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import PurePosixPath

INCOMING = "incoming"
STAGING = "staging"
TRANSFORMED = "transformed"
ARCHIVE = "archive"
FAILED = "failed"
STATE = "state"


class FailedStage(StrEnum):
    """The ``failed/<stage>/`` prefixes; the value is the stage name used in reports."""

    VALIDATION = "validation_failed"
    PROCESSING = "processing_failed"
    LOADING = "loading_failed"


@dataclass(frozen=True)
class IncomingKey:
    """A parsed ``incoming/<dataset>/<file>`` key."""

    dataset: str
    name: str
    """The path below the dataset prefix (may contain '/', kept as is downstream)."""

    @classmethod
    def parse(cls, key: str) -> IncomingKey:
        """Parse a key, rejecting anything outside ``incoming/<dataset>/``."""
        parts = PurePosixPath(key).parts
        if len(parts) < 3 or parts[0] != INCOMING or ".." in parts:
            raise ValueError(
                f"not an incoming object key (want incoming/<dataset>/<file>): {key!r}"
            )
        return cls(dataset=parts[1], name="/".join(parts[2:]))

    @property
    def key(self) -> str:
        return f"{INCOMING}/{self.dataset}/{self.name}"

    @property
    def suffix(self) -> str:
        """Lower-case extension without compression suffixes, e.g. ``csv``; '' if none."""
        return PurePosixPath(self.name).suffix.lower().lstrip(".")


def file_id(sha256: str) -> str:
    """The id under which a file's derived objects are stored: its content hash.

    Content-addressing makes staging/transformed outputs idempotent: the same bytes always map to
    the same prefix, whatever the object was called or how often it was processed.
    """
    return sha256[:32]


def staging_prefix(dataset: str, fid: str) -> str:
    return f"{STAGING}/{dataset}/{fid}/"


def staging_data_key(dataset: str, fid: str) -> str:
    return f"{staging_prefix(dataset, fid)}data.parquet"


def staging_rejects_key(dataset: str, fid: str) -> str:
    return f"{staging_prefix(dataset, fid)}rejects.parquet"


def transformed_prefix(dataset: str, fid: str) -> str:
    return f"{TRANSFORMED}/{dataset}/{fid}/"


def archive_key(incoming: IncomingKey, when: datetime, version: str | None = None) -> str:
    """Where a raw file is archived. ``version`` (a content id) puts a second file of the same
    name archived the same day in a folder of its own, so it never overwrites the first."""
    folder = f"{ARCHIVE}/{incoming.dataset}/{when:%Y/%m/%d}"
    return f"{folder}/{version}/{incoming.name}" if version else f"{folder}/{incoming.name}"


def failed_key(stage: FailedStage, incoming: IncomingKey) -> str:
    return f"{FAILED}/{stage.value}/{incoming.dataset}/{incoming.name}"


def parse_failed_key(key: str) -> tuple[FailedStage, IncomingKey]:
    """``failed/<stage>/<dataset>/<file>`` -> (stage, the incoming key it came from).

    The inverse of ``failed_key``; re-processing uses it to send a file back where it started.
    Report files (``*.error.json``) are not quarantined files and are refused.
    """
    parts = PurePosixPath(key).parts
    stages = {s.value: s for s in FailedStage}
    if (
        len(parts) < 4
        or parts[0] != FAILED
        or parts[1] not in stages
        or ".." in parts
        or key.endswith(".error.json")
    ):
        raise ValueError(
            f"not a quarantined file key (want failed/<stage>/<dataset>/<file>, stage one of "
            f"{sorted(stages)}): {key!r}"
        )
    return stages[parts[1]], IncomingKey(dataset=parts[2], name="/".join(parts[3:]))


def error_report_key(failed: str) -> str:
    """The machine-readable report sits next to the quarantined file."""
    return f"{failed}.error.json"


def generator_state_key(dataset: str) -> str:
    return f"{STATE}/generator/{dataset}.json"
