"""What the DAGs must say exactly as the ``mdp`` package says it, in one place.

The DAG files parse with only Airflow and the cncf.kubernetes provider installed, so they cannot
import ``mdp``; every value below repeats one of its facts (or of its images and chart).
``tests/dags/test_drift.py`` compares each with its source, so a change on one side that is not
made on the other fails a test instead of a deployment.
"""

from __future__ import annotations

import re

DATASET_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
"""A dataset's name (``mdp.contracts.model.NAME_RE``): lower_snake, at most 63 characters, a
PostgreSQL identifier and the ``incoming/<dataset>/`` prefix."""

INCOMING = "incoming"
"""The prefix new files arrive under (``mdp.layout.INCOMING``)."""
FAILED = "failed"
FAILED_STAGES = ("validation_failed", "processing_failed", "loading_failed")
"""The quarantine folders under ``failed/`` (``mdp.layout.FailedStage``)."""
REPORT_SUFFIX = ".error.json"
"""The report written next to a quarantined file (``mdp.layout.error_report_key``)."""

EXIT_FAULT = 1
EXIT_REJECTED = 3
EXIT_TERMINAL = 4
"""Exit codes of the ``mdp`` command (``mdp.exitcodes``): retry, skip (quarantined), fail."""

UID = 10001
"""The numeric user and group of every step image (``images/python-base/Dockerfile``)."""

CONTRACTS_ENV = "CONTRACTS__DIR"
"""The variable telling ``mdp`` where the contracts are (``mdp.config.ContractSettings``)."""
CONTRACTS_MOUNT = "/etc/mdp/contracts"
"""Where every pod that runs ``mdp`` sees the contracts (the chart's setup Job and generator
mount them at the same path)."""
CONTRACT_FILES = "*.yaml"
"""The contract files of a contracts directory (``mdp.contracts.registry``)."""
