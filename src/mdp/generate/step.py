"""The generate step: build N files of M rows, break a share of them, upload to incoming/.

Reproducible: the same seed, reference time and (for youtube) starting state give the same files.
The returned manifest says for every key whether it is good or which breakage it carries, and
which validation rule should catch it, so tests and demos can check the platform's verdicts.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from faker import Faker

from mdp import layout
from mdp.contracts import Contract, get_contract, known_datasets
from mdp.errors import ConfigError
from mdp.generate import FORMATS, generic, sales, youtube
from mdp.generate.breakage import (
    BadKind,
    batch_breaker,
    broken_schema,
    kinds_for,
    map_batches,
    truncate,
)
from mdp.generate.writers import write_batches
from mdp.storage import ObjectStore

log = logging.getLogger(__name__)

__all__ = ["FORMATS", "GeneratedFile", "generate", "manifest_lines"]
EXPECTED_RULE: dict[BadKind, str | dict[str, str]] = {
    BadKind.MISSING_COLUMN: "missing_columns",
    BadKind.WRONG_TYPE: "reject_ratio",
    BadKind.NEGATIVE_VALUE: "reject_ratio",
    BadKind.INCONSISTENT: "reject_ratio",
    BadKind.TRUNCATED: {
        "csv": "malformed_csv",
        "csv.gz": "corrupt_compression",
        "tsv": "malformed_csv",
        "json": "malformed_json",
        "parquet": "corrupt_parquet",
        "xlsx": "corrupt_xlsx",
    },
    BadKind.WRONG_FORMAT: "format_mismatch",
}
# A mislabelled file carries another format's bytes under its declared extension.
_OTHER_FORMAT = {
    "csv": "jsonl",
    "csv.gz": "jsonl.gz",
    "tsv": "jsonl",
    "json": "csv",
    "parquet": "csv",
    "xlsx": "csv",
}


@dataclass(frozen=True)
class GeneratedFile:
    key: str
    dataset: str
    format: str
    rows: int
    kind: str
    """"good" or a BadKind value."""
    expected_rule: str | None
    """The validation rule that must reject the file (None for good files)."""


def _bad_plan(
    rng: np.random.Generator, files: int, bad_fraction: float, kinds: list[BadKind]
) -> dict[int, BadKind]:
    n_bad = round(files * bad_fraction)
    indices = sorted(rng.choice(files, size=n_bad, replace=False).tolist()) if n_bad else []
    kinds = list(kinds)
    rng.shuffle(kinds)
    return {i: kinds[j % len(kinds)] for j, i in enumerate(indices)}


class _SalesSource:
    """Sale lines from seeded pools; ids are unique per seed and file."""

    def __init__(self, seed: int, now: datetime, contract: Contract) -> None:
        self.seed = seed
        self.now = now
        self.contract = contract
        self.pools = sales.SalesPools.build(seed)

    def batches(self, rng: np.random.Generator, index: int, rows: int) -> Iterator[pa.RecordBatch]:
        prefix = f"S{self.seed % 10**8:08d}{index:04d}"
        return sales.sales_batches(rng, self.pools, rows, prefix, self.now, self.contract)

    def finish(self) -> None:
        """Sales generation keeps no state between runs."""


class _ContractSource:
    """Rows of any other contract, sampled from its columns (``mdp.generate.generic``)."""

    def __init__(self, seed: int, now: datetime, contract: Contract) -> None:
        self.seed = seed
        self.now = now
        self.contract = contract

    def batches(self, rng: np.random.Generator, index: int, rows: int) -> Iterator[pa.RecordBatch]:
        prefix = f"G{self.seed % 10**8:08d}{index:04d}"
        return generic.contract_batches(
            rng, self.contract, rows, prefix, self.now, seed=self.seed + index
        )

    def finish(self) -> None:
        """Generic generation keeps no state between runs."""


class _YoutubeSource:
    """Snapshots continuing from the state stored in the bucket, saved back by ``finish``."""

    def __init__(self, store: ObjectStore, seed: int, now: datetime, contract: Contract) -> None:
        self.store = store
        self.seed = seed
        self.now = now
        self.contract = contract
        key = layout.generator_state_key("youtube")
        self.state: dict[str, Any] = store.get_json(key) or youtube.new_state(seed, now)

    def batches(self, rng: np.random.Generator, index: int, rows: int) -> Iterator[pa.RecordBatch]:
        if rng.random() < 0.2:  # now and then a new video is published
            fake = Faker()
            fake.seed_instance(self.seed + index)
            youtube.add_video(self.state, rng, fake, self.now)
        return youtube.snapshot_batches(self.state, rng, rows, self.now, self.contract)

    def finish(self) -> None:
        self.state["runs"] += 1
        self.store.put_json(layout.generator_state_key("youtube"), self.state)


def _write_file(
    path: Path,
    batches: Iterator[pa.RecordBatch],
    contract: Contract,
    fmt: str,
    kind: BadKind | None,
    index: int,
) -> int:
    """Write one file in the contract's dialect and sheet, broken as ``kind`` says; JSON files
    alternate array and JSON Lines."""
    schema = contract.arrow_schema()
    write_fmt = fmt if fmt != "json" or index % 2 == 0 else "jsonl"
    if kind is not None:
        breaker = batch_breaker(kind, contract)
        batches = map_batches(batches, breaker)
        schema = broken_schema(breaker, schema)
        if kind is BadKind.WRONG_FORMAT:
            write_fmt = _OTHER_FORMAT[fmt]
    written = write_batches(path, schema, batches, write_fmt, contract.csv, contract.xlsx_sheet)
    if kind is BadKind.TRUNCATED:
        truncate(path, fmt, contract.csv.delimiter_for(fmt))
    return written


def generate(
    store: ObjectStore,
    dataset: str,
    *,
    files: int,
    rows: int,
    fmt: str,
    bad_fraction: float = 0.0,
    seed: int | None = None,
    now: datetime | None = None,
    scratch_dir: Path | None = None,
) -> list[GeneratedFile]:
    """Generate and upload; see the module docstring."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}")
    if not 0.0 <= bad_fraction <= 1.0:
        raise ValueError("bad fraction must be between 0 and 1")
    if dataset not in (known := known_datasets()):
        raise ConfigError(f"no contract for dataset {dataset!r}; known: {', '.join(known)}")
    contract = get_contract(dataset)
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    seed = seed if seed is not None else int(now.timestamp())
    rng = np.random.default_rng(seed)
    plan = _bad_plan(rng, files, bad_fraction, kinds_for(contract))
    source: _SalesSource | _YoutubeSource | _ContractSource
    if dataset == "youtube":
        source = _YoutubeSource(store, seed, now, contract)
        rng = np.random.default_rng([seed, source.state["runs"]])
    elif dataset == "sales":
        source = _SalesSource(seed, now, contract)
    else:
        source = _ContractSource(seed, now, contract)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    manifest: list[GeneratedFile] = []
    store.ensure_bucket()
    with tempfile.TemporaryDirectory(prefix="mdp-generate-", dir=scratch_dir) as tmp:
        for i in range(files):
            kind = plan.get(i)
            name = f"{dataset}_{stamp}_s{seed}_{i:04d}.{fmt}"
            path = Path(tmp) / name
            batches = source.batches(rng, i, rows)
            written = _write_file(path, batches, contract, fmt, kind, i)
            key = f"{layout.INCOMING}/{dataset}/{name}"
            store.put_file(key, path)
            path.unlink()
            expected = EXPECTED_RULE[kind] if kind else None
            if isinstance(expected, dict):
                expected = expected[fmt]
            label = kind.value if kind else "good"
            manifest.append(GeneratedFile(key, dataset, fmt, written, label, expected))
            log.info("uploaded %s (%d/%d, %d rows, %s)", key, i + 1, files, written, label)
    source.finish()
    return manifest


def manifest_lines(manifest: list[GeneratedFile]) -> Iterator[dict[str, Any]]:
    for item in manifest:
        yield asdict(item)
