"""Parse the DAG folder the way the DAG processor does and describe what it found, as JSON.

Run by tests/dags/test_dags.py in a subprocess (Airflow reads its configuration at import). An
import hook refuses the packages a DAG file must not pull in at parse time, so importing one of
them is an import error in the DagBag, not a silent success.
"""

from __future__ import annotations

import importlib.abc
import json
import os
import sys
import time
from typing import Any

FORBIDDEN = ("mdp", "pandas", "pyarrow", "numpy", "boto3", "botocore", "minio", "psycopg", "faker")


class _Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if fullname.split(".", maxsplit=1)[0] in FORBIDDEN:
            raise ImportError(f"DAG parsing must not import {fullname}")


def _assets(timetable: Any) -> list[dict[str, Any]]:
    """The assets an asset-triggered timetable waits for, with their watchers' triggers."""
    condition = getattr(timetable, "asset_condition", None)
    if condition is None:
        return []
    assets = getattr(condition, "objects", [condition])
    return [
        {
            "name": a.name,
            "uri": a.uri,
            "watchers": [[w.name, *w.trigger.serialize()] for w in a.watchers],
        }
        for a in assets
    ]


def main() -> int:
    # What the DAG processor pre-imports before parsing a file (parsing_pre_import_modules).
    t0 = time.perf_counter()
    import airflow.providers.cncf.kubernetes.operators.pod
    import airflow.sdk  # noqa: F401
    from airflow.dag_processing.dagbag import DagBag

    pre_import = time.perf_counter() - t0
    already = sorted({m.split(".")[0] for m in sys.modules} & set(FORBIDDEN))
    sys.meta_path.insert(0, _Refuse())
    folder = os.environ["AIRFLOW__CORE__DAGS_FOLDER"]
    bag = DagBag(dag_folder=folder)
    parse = {stat.file: stat.duration.total_seconds() for stat in bag.dagbag_stats}
    dags = {}
    for dag_id, dag in bag.dags.items():
        dags[dag_id] = {
            "schedule": str(getattr(dag, "schedule", None)),
            "timetable": type(dag.timetable).__name__,
            "assets": _assets(dag.timetable),
            "max_active_runs": dag.max_active_runs,
            "catchup": dag.catchup,
            "params": {k: v.schema for k, v in dag.params.items()},
            "tasks": {
                t.task_id: {
                    "upstream": sorted(t.upstream_task_ids),
                    "retries": t.retries,
                    "retry_delay": t.retry_delay.total_seconds(),
                    "exponential": t.retry_exponential_backoff,
                    "pool": t.pool,
                    "trigger_rule": str(t.trigger_rule),
                    "max_active_tis_per_dag": t.max_active_tis_per_dag,
                    "priority_weight": t.priority_weight,
                    "weight_rule": str(getattr(t.weight_rule, "value", t.weight_rule)),
                    "operator": type(t).__name__,
                    "mapped": bool(getattr(t, "is_mapped", False))
                    or t.get_closest_mapped_task_group() is not None,
                    "skip_on_exit_code": sorted(getattr(t, "skip_on_exit_code", None) or []),
                    "image": getattr(t, "image", None),
                    "startup_check_seconds": getattr(t, "startup_check_interval_seconds", None),
                }
                for t in dag.tasks
            },
        }
    print(
        json.dumps(
            {
                "import_errors": bag.import_errors,
                "pre_import_seconds": pre_import,
                "forbidden_loaded_by_airflow": already,
                "forbidden_after_parse": sorted(
                    {m.split(".")[0] for m in sys.modules} & set(FORBIDDEN)
                ),
                "parse_seconds": parse,
                "dags": dags,
            },
            default=str,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
