"""Names derived from object keys: label values and the incoming key of a quarantined file.

Standard library only, so it is unit-tested without Airflow. The layout itself is defined in
``mdp.layout``; the DAGs cannot import it, so its names come from ``mdp_dags.platform`` and
``tests/dags`` checks that both agree.
"""

from __future__ import annotations

import hashlib
import re

from mdp_dags.platform import FAILED, FAILED_STAGES, INCOMING, REPORT_SUFFIX


def file_label(key: str) -> str:
    """A label value (<= 63 characters of ``[A-Za-z0-9._-]``) naming the object's file.

    Object names may hold anything; a label may not. Readable part first, and a short hash of the
    whole key whenever anything had to change, so two files never share a label by accident.
    """
    name = key.rsplit("/", 1)[-1]
    clean = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-_.")
    if clean == name and len(clean) <= 63:
        return clean
    digest = hashlib.sha256(key.encode()).hexdigest()[:8]
    return f"{clean[:54].rstrip('-_.')}-{digest}".lstrip("-_.") or digest


def parse_failed_key(key: str) -> tuple[str, str, str]:
    """``failed/<stage>/<dataset>/<file>`` -> (stage, dataset, incoming key); ValueError if not."""
    parts = key.split("/")
    if (
        len(parts) < 4
        or parts[0] != FAILED
        or parts[1] not in FAILED_STAGES
        or any(p in ("", "..") for p in parts)
        or key.endswith(REPORT_SUFFIX)
    ):
        raise ValueError(
            f"{key!r} is not a quarantined file: want failed/<stage>/<dataset>/<file> with stage "
            f"one of {', '.join(FAILED_STAGES)}"
        )
    return parts[1], parts[2], "/".join([INCOMING, parts[2], *parts[3:]])
