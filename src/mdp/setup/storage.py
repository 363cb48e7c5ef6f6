"""``mdp setup storage``: the bucket, its prefixes, and MinIO users with least-privilege policies.

Run by the chart's setup Job as the MinIO root user, after every install and upgrade; every call
is idempotent (adding an existing user resets its secret to the one in its Secret, re-adding a
policy replaces it), so a rotated Secret is applied by the next upgrade.

Policies (S3 IAM JSON, MinIO's admin API):

- ``mdp-pipeline``: read/write/delete objects in the bucket and list it: the steps move files
  between every prefix.
- ``mdp-generator``: list the bucket; write ``incoming/*``; read and write ``state/generator/*``.
  It cannot read or delete anyone's data.
- ``mdp-readonly``: list the bucket and read objects (the DAGs' discovery, people browsing).
- ``mdp-metrics``: list ``incoming/`` only (the exporter's backlog); it cannot read an object,
  nor list any other prefix.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from mdp import layout
from mdp.errors import TransientError

log = logging.getLogger(__name__)


def policies(bucket: str) -> dict[str, dict[str, Any]]:
    """Policy documents by name, for ``bucket``."""
    arn = f"arn:aws:s3:::{bucket}"

    def doc(*statements: dict[str, Any]) -> dict[str, Any]:
        return {"Version": "2012-10-17", "Statement": list(statements)}

    listing = {
        "Effect": "Allow",
        "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
        "Resource": [arn],
    }
    return {
        "mdp-pipeline": doc(
            listing,
            {
                "Effect": "Allow",
                "Action": [
                    "s3:GetObject",
                    "s3:PutObject",
                    "s3:DeleteObject",
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                ],
                "Resource": [f"{arn}/*"],
            },
        ),
        "mdp-generator": doc(
            listing,
            {
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
                "Resource": [f"{arn}/{layout.INCOMING}/*"],
            },
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": [f"{arn}/{layout.STATE}/generator/*"],
            },
        ),
        # Read-only, plus MinIO's bucket notification stream: Airflow's triggerer (this user, via
        # the mdp_s3 connection) listens to it to start a file's run within seconds.
        "mdp-readonly": doc(
            listing,
            {"Effect": "Allow", "Action": ["s3:ListenBucketNotification"], "Resource": [arn]},
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [f"{arn}/*"]},
        ),
        "mdp-metrics": doc(
            # The SDK asks for the bucket's region before its first request.
            {"Effect": "Allow", "Action": ["s3:GetBucketLocation"], "Resource": [arn]},
            {
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [arn],
                "Condition": {"StringLike": {"s3:prefix": [f"{layout.INCOMING}/*"]}},
            },
        ),
    }


@dataclass(frozen=True)
class User:
    access_key: str
    secret_key: str
    policy: str


def prefixes(datasets: list[str]) -> list[str]:
    """The folder markers that make the layout visible in the console before any file arrives."""
    out = [f"{layout.INCOMING}/{d}/" for d in datasets]
    out += [f"{layout.FAILED}/{s.value}/" for s in layout.FailedStage]
    out += [f"{layout.ARCHIVE}/", f"{layout.STAGING}/", f"{layout.TRANSFORMED}/"]
    return out


def setup_storage(
    client: Any, admin: Any, bucket: str, datasets: list[str], users: list[User]
) -> dict[str, Any]:
    """Create what is missing and (re)apply users and policies; returns what it did."""
    import io

    from minio.error import MinioAdminException, S3Error

    try:
        created = False
        if not client.bucket_exists(bucket):
            client.make_bucket(bucket)
            created = True
        for prefix in prefixes(datasets):
            client.put_object(bucket, prefix, io.BytesIO(b""), 0)
        for name, document in policies(bucket).items():
            admin.policy_add(name, policy=document)
        for user in users:
            admin.user_add(user.access_key, user.secret_key)
            try:
                admin.attach_policy([user.policy], user=user.access_key)
            except MinioAdminException as e:
                if "already" not in str(e).lower():  # attached by an earlier run
                    raise
            log.info("user %s has policy %s", user.access_key, user.policy)
    except (S3Error, MinioAdminException, OSError) as e:
        raise TransientError(f"MinIO set-up failed: {e}") from e
    return {
        "bucket": bucket,
        "bucket_created": created,
        "prefixes": prefixes(datasets),
        "users": {u.access_key: u.policy for u in users},
    }
