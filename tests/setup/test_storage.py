"""`mdp setup storage` against the real MinIO server: bucket, prefixes, users, and policies that
actually allow and refuse what they say."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from minio import Minio
from minio.error import S3Error

from mdp.devservers import MinioServer

pytestmark = pytest.mark.integration

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"


def _client(server: MinioServer, access: str, secret: str) -> Minio:
    return Minio(server.endpoint, access_key=access, secret_key=secret, secure=False)


def _run(
    server: MinioServer, bucket: str, suffix: str, contracts_dir: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "S3__ENDPOINT": server.endpoint,
        "S3__ACCESS_KEY": server.access_key,
        "S3__SECRET_KEY": server.secret_key,
        "S3__BUCKET": bucket,
    }
    for role in ("pipeline", "generator", "readonly", "metrics"):
        env[f"SETUP__{role.upper()}_ACCESS_KEY"] = f"{role}-{suffix}"
        env[f"SETUP__{role.upper()}_SECRET_KEY"] = f"{role}-secret-{suffix}"
    if contracts_dir is not None:
        env["CONTRACTS__DIR"] = str(contracts_dir)
    return subprocess.run(
        [sys.executable, "-m", "mdp.cli", "setup", "storage"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_bucket_users_and_policies(minio_server: MinioServer) -> None:
    bucket, suffix = f"setup-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:6]
    first = _run(minio_server, bucket, suffix)
    assert first.returncode == 0, first.stderr
    again = _run(minio_server, bucket, suffix)  # idempotent
    assert again.returncode == 0, again.stderr

    root = _client(minio_server, minio_server.access_key, minio_server.secret_key)
    keys = {o.object_name for o in root.list_objects(bucket, recursive=True)}
    assert {"incoming/sales/", "incoming/youtube/", "failed/loading_failed/"} <= keys

    gen = _client(minio_server, f"generator-{suffix}", f"generator-secret-{suffix}")
    gen.put_object(bucket, "incoming/sales/x.csv", io.BytesIO(b"a"), 1)
    gen.put_object(bucket, "state/generator/youtube.json", io.BytesIO(b"{}"), 2)
    with pytest.raises(S3Error, match="Access Denied"):
        gen.get_object(bucket, "incoming/sales/x.csv")
    with pytest.raises(S3Error, match="Access Denied"):
        gen.put_object(bucket, "archive/x.csv", io.BytesIO(b"a"), 1)

    ro = _client(minio_server, f"readonly-{suffix}", f"readonly-secret-{suffix}")
    assert ro.get_object(bucket, "incoming/sales/x.csv").read() == b"a"
    with pytest.raises(S3Error, match="Access Denied"):
        ro.remove_object(bucket, "incoming/sales/x.csv")

    # The read-only user (Airflow's triggerer) may listen to the bucket's notifications; the
    # generator may not. A refused listen fails at once, an allowed one waits for events.
    assert _listen_refused(ro, bucket) is False
    assert _listen_refused(gen, bucket) is True

    pipe = _client(minio_server, f"pipeline-{suffix}", f"pipeline-secret-{suffix}")
    pipe.put_object(bucket, "archive/x.csv", io.BytesIO(b"a"), 1)
    pipe.remove_object(bucket, "incoming/sales/x.csv")
    with pytest.raises(S3Error, match="Access Denied"):
        pipe.make_bucket(f"other-{suffix}")


def test_the_metrics_user_lists_incoming_and_nothing_else(minio_server: MinioServer) -> None:
    """The exporter's backlog is a listing of incoming/: its user can do that, and cannot read a
    file, list another prefix or write."""
    bucket, suffix = f"setup-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:6]
    done = _run(minio_server, bucket, suffix)
    assert done.returncode == 0, done.stderr
    root = _client(minio_server, minio_server.access_key, minio_server.secret_key)
    root.put_object(bucket, "incoming/sales/x.csv", io.BytesIO(b"a"), 1)
    root.put_object(bucket, "archive/sales/y.csv", io.BytesIO(b"a"), 1)
    metrics = _client(minio_server, f"metrics-{suffix}", f"metrics-secret-{suffix}")
    listed = {o.object_name for o in metrics.list_objects(bucket, "incoming/", recursive=True)}
    assert "incoming/sales/x.csv" in listed
    with pytest.raises(S3Error, match="Access Denied"):
        list(metrics.list_objects(bucket, "archive/", recursive=True))
    with pytest.raises(S3Error, match="Access Denied"):
        list(metrics.list_objects(bucket, recursive=True))
    with pytest.raises(S3Error, match="Access Denied"):
        metrics.get_object(bucket, "incoming/sales/x.csv")
    with pytest.raises(S3Error, match="Access Denied"):
        metrics.put_object(bucket, "incoming/sales/z.csv", io.BytesIO(b"a"), 1)


def _listen_refused(client: Minio, bucket: str) -> bool:
    """True if MinIO refuses ``client`` its ListenBucketNotification stream (within 5 s)."""
    outcome: list[BaseException | None] = []

    def listen() -> None:
        try:
            with client.listen_bucket_notification(bucket, prefix="incoming/") as events:
                next(iter(events))
            outcome.append(None)
        except S3Error as e:
            outcome.append(e)

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    thread.join(timeout=5)
    return bool(outcome) and isinstance(outcome[0], S3Error)


def test_every_dataset_of_the_mounted_contracts_gets_its_prefix(
    minio_server: MinioServer, tmp_path: Path
) -> None:
    """As the chart's setup Job runs it: no --datasets, CONTRACTS__DIR names the contracts, so a
    dataset added to them gets incoming/<dataset>/ on the next upgrade."""
    for built_in in sorted(CONTRACTS.glob("*.yaml")):
        shutil.copy(built_in, tmp_path)
    (tmp_path / "orders.yaml").write_text(
        "dataset: orders\nversion: 1\ntable: warehouse.orders\nkey: [order_id]\n"
        "newer: [updated_at]\ncolumns:\n"
        "  - {name: order_id, type: string}\n  - {name: updated_at, type: timestamp}\n"
    )
    bucket, suffix = f"setup-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:6]
    done = _run(minio_server, bucket, suffix, tmp_path)
    assert done.returncode == 0, done.stderr
    root = _client(minio_server, minio_server.access_key, minio_server.secret_key)
    incoming = {o.object_name for o in root.list_objects(bucket, prefix="incoming/")}
    assert incoming == {"incoming/orders/", "incoming/sales/", "incoming/youtube/"}


def test_missing_user_secret_is_a_clear_config_error(minio_server: MinioServer) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mdp.cli", "setup", "storage"],
        env={"PATH": "/usr/bin:/bin", "S3__ENDPOINT": minio_server.endpoint},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 4
    assert "SETUP__PIPELINE_ACCESS_KEY" in done.stderr
