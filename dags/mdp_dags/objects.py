"""Finding the files a run works on: new uploads under ``incoming/``, quarantined ones under
``failed/``.

Listing runs in the Airflow worker (a list call is too small to be worth a pod) through the
Amazon provider's ``S3Hook`` and the Airflow connection ``MDP_S3_CONN_ID``, which points at MinIO.
The hook is imported inside the functions: the official Airflow image ships the Amazon provider,
but the DAG files must parse with only Airflow and the cncf.kubernetes provider installed.
"""

from __future__ import annotations

import logging
from typing import Any

from mdp_dags.config import PipelineConfig
from mdp_dags.naming import file_label, parse_failed_key
from mdp_dags.platform import FAILED, INCOMING, REPORT_SUFFIX

log = logging.getLogger(__name__)


def _hook(cfg: PipelineConfig) -> Any:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=cfg.s3_conn_id)


def file_entry(key: str, dataset: str) -> dict[str, str]:
    """What a mapped task group gets per file: the key and its label-safe names."""
    return {"key": key, "dataset": dataset, "label": file_label(key)}


def incoming_files(cfg: PipelineConfig) -> list[dict[str, str]]:
    """Up to ``max_files_per_run`` objects under ``incoming/<dataset>/``, oldest key order per
    dataset, datasets interleaved so one busy dataset cannot starve another."""
    hook = _hook(cfg)
    datasets = cfg.current_datasets()
    per_dataset: list[list[str]] = []
    for dataset in datasets:
        keys = hook.list_keys(bucket_name=cfg.bucket, prefix=f"{INCOMING}/{dataset}/") or []
        per_dataset.append([k for k in keys if not k.endswith("/")])  # skip folder markers
    found = sum(len(keys) for keys in per_dataset)
    files: list[dict[str, str]] = []
    for i in range(max((len(k) for k in per_dataset), default=0)):
        for dataset, keys in zip(datasets, per_dataset, strict=True):
            if i < len(keys) and len(files) < cfg.max_files_per_run:
                files.append(file_entry(keys[i], dataset))
    log.info(
        "found %d file(s) in s3://%s/incoming/ (%s); this run takes %d",
        found,
        cfg.bucket,
        ", ".join(f"{d}: {len(k)}" for d, k in zip(datasets, per_dataset, strict=True)),
        len(files),
    )
    return files


def failed_files(cfg: PipelineConfig, keys: list[str], prefix: str) -> list[dict[str, str]]:
    """The quarantined files named by ``keys`` and/or found under ``prefix`` (reports skipped).

    Raises ValueError with every bad key listed, or when the selection is empty, so a mistyped
    request fails at once with a message instead of doing nothing quietly.
    """
    selected = list(keys)
    if prefix:
        if not prefix.startswith(f"{FAILED}/"):
            raise ValueError(f"prefix {prefix!r} must start with failed/")
        listed = _hook(cfg).list_keys(bucket_name=cfg.bucket, prefix=prefix) or []
        selected += [k for k in listed if not k.endswith((REPORT_SUFFIX, "/"))]
    errors, files, seen = [], [], set()
    for key in selected:
        try:
            _, dataset, incoming = parse_failed_key(key)
        except ValueError as e:
            errors.append(str(e))
            continue
        if key not in seen:
            seen.add(key)
            files.append(file_entry(incoming, dataset) | {"failed_key": key})
    if errors:
        raise ValueError("; ".join(errors))
    if not files:
        raise ValueError(
            f"nothing to re-process: keys={keys!r}, prefix={prefix!r} matched no file in "
            f"s3://{cfg.bucket}/failed/"
        )
    return files
