"""Datasets discovered from the contract files (dags/mdp_dags/contracts.py) and how the DAGs use
them: read at every dispatch, a malformed file skipped, never a broken DAG parse."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"
sys.path.insert(0, str(DAGS))

from mdp_dags.config import PipelineConfig  # noqa: E402
from mdp_dags.contracts import datasets_in  # noqa: E402
from mdp_dags.dispatch import dataset_of  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _write(directory: Path, name: str, text: str) -> None:
    (directory / name).write_text(text, encoding="utf-8")


def test_the_datasets_are_the_dataset_names_of_the_yaml_files(tmp_path: Path) -> None:
    _write(tmp_path, "sales.yaml", "dataset: sales\nversion: 1\n")
    _write(tmp_path, "orders.yaml", "dataset: orders\nversion: 1\n")
    _write(tmp_path, "orders_v2.yaml", "dataset: orders\nversion: 2\n")  # a version, not a dataset
    _write(tmp_path, "notes.txt", "dataset: not_a_contract\n")
    _write(tmp_path, "contract.schema.json", "{}")
    (tmp_path / "..data").mkdir()  # what a ConfigMap volume has next to the files
    _write(tmp_path / "..data", "ghost.yaml", "dataset: ghost\n")
    assert datasets_in(tmp_path) == ("orders", "sales")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("dataset: [unclosed\n", "skipping contract file"),
        ("- just\n- a list\n", "must be a lower_snake name, got None"),
        ("version: 1\n", "must be a lower_snake name, got None"),
        ("dataset: Orders\n", "must be a lower_snake name, got 'Orders'"),
        ("dataset: 42\n", "must be a lower_snake name, got 42"),
        (f"dataset: o{'x' * 63}\n", f"must be a lower_snake name, got 'o{'x' * 63}'"),
        ("dataset: sales\ndataset: orders\n", "duplicate key 'dataset'"),
        ("", "must be a lower_snake name, got None"),
        ("\xff\xfe", "skipping contract file"),
    ],
)
def test_a_malformed_file_is_logged_and_skipped_and_the_others_count(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, text: str, why: str
) -> None:
    _write(tmp_path, "sales.yaml", "dataset: sales\nversion: 1\n")
    (tmp_path / "bad.yaml").write_bytes(text.encode("latin-1"))
    with caplog.at_level(logging.WARNING, logger="mdp_dags.contracts"):
        assert datasets_in(tmp_path) == ("sales",)
    assert any("bad.yaml" in r.message and why in r.message for r in caplog.records), caplog.text


def test_a_missing_or_empty_directory_dispatches_nothing_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="mdp_dags.contracts"):
        assert datasets_in(tmp_path / "absent") == ()
        assert datasets_in(tmp_path) == ()
    assert caplog.text.count("no dataset is dispatched") == 2


def test_the_built_in_contracts_name_the_built_in_datasets() -> None:
    """The repository's contracts/ (what the chart's ConfigMap holds) as the DAGs read it."""
    assert {"sales", "youtube"} <= set(datasets_in(ROOT / "contracts"))


def test_a_dataset_added_after_import_is_dispatched_from_the_next_call_on(tmp_path: Path) -> None:
    """Kubernetes updates a mounted ConfigMap in place: nothing may cache the first answer."""
    _write(tmp_path, "sales.yaml", "dataset: sales\nversion: 1\n")
    cfg = PipelineConfig.from_env({"MDP_CONTRACTS_DIR": str(tmp_path), "MDP_DATASETS": "youtube"})
    assert cfg.current_datasets() == ("sales",)  # the directory wins over MDP_DATASETS
    assert dataset_of("incoming/orders/a.csv", cfg) is None
    _write(tmp_path, "orders.yaml", "dataset: orders\nversion: 1\n")
    assert cfg.current_datasets() == ("orders", "sales")
    assert dataset_of("incoming/orders/a.csv", cfg) == "orders"
    (tmp_path / "sales.yaml").unlink()
    assert dataset_of("incoming/sales/a.csv", cfg) is None


def test_without_a_contracts_directory_mdp_datasets_still_decides() -> None:
    cfg = PipelineConfig.from_env({"MDP_DATASETS": "sales"})
    assert cfg.contracts_dir == ""
    assert cfg.current_datasets() == ("sales",)
    assert PipelineConfig.from_env({}).current_datasets() == ("sales", "youtube")


def test_the_contracts_configmaps_come_from_the_environment() -> None:
    assert PipelineConfig.from_env({}).contracts_configmaps == ("mdp-contracts",)
    cfg = PipelineConfig.from_env({"MDP_CONTRACTS_CONFIGMAP": "mdp-contracts, my-contracts"})
    assert cfg.contracts_configmaps == ("mdp-contracts", "my-contracts")
    assert PipelineConfig.from_env({"MDP_CONTRACTS_CONFIGMAP": ""}).contracts_configmaps == ()
