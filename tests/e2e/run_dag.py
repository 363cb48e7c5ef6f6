"""Run production DAGs with ``dag.test()`` in this process; print the runs' task states as JSON.

Started by the end-to-end tests as a subprocess, because Airflow reads its configuration
(``AIRFLOW__*``, ``AIRFLOW_CONN_*``, ``MDP_*``) once at import time and each test needs its own.
The DAGs come from the real DAG folder through Airflow's own DagBag: nothing here changes them.

Usage:
  python -m tests.e2e.run_dag <dag_id> [run conf as JSON]   one run of one DAG
  python -m tests.e2e.run_dag ingest                        what the scheduler would do for a sweep

``ingest`` runs the dispatcher ``mdp_ingest`` (a sweep: it creates the ``mdp_ingest_file`` runs
through the Task SDK, as under the scheduler), then executes each run it created, oldest first,
under the run id and conf the dispatcher gave it (``dag.test()`` replaces the queued run with a
test run of the same id). Last line of stdout: one JSON document.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any
from unittest import mock


def _result(run: Any) -> dict[str, Any]:
    tasks = {
        f"{ti.task_id}[{ti.map_index}]": (ti.state, ti.try_number)
        for ti in run.get_task_instances()
    }
    return {"state": run.state, "run_id": run.run_id, "conf": run.conf, "tasks": tasks}


def _take_queued_runs(dag_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Run id and conf of every queued run of ``dag_id``, oldest first; the runs are deleted, so
    that ``dag.test()`` can create its run under the same id."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = select(DagRun).where(DagRun.dag_id == dag_id, DagRun.state == "queued")
        runs = session.scalars(query.order_by(DagRun.id)).all()
        taken = [(r.run_id, dict(r.conf or {})) for r in runs]
        for run in runs:
            session.delete(run)
    return taken


def main() -> int:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.dagrun import DagRun

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        print(json.dumps({"import_errors": bag.import_errors}))
        return 2
    if sys.argv[1] != "ingest":
        conf = json.loads(sys.argv[2]) if len(sys.argv) > 2 else None
        print(json.dumps(_result(bag.get_dag(sys.argv[1]).test(run_conf=conf)), default=str))
        return 0
    file_dag = bag.get_dag("mdp_ingest_file")
    dispatch = _result(bag.get_dag("mdp_ingest").test())
    files = []
    for run_id, conf in _take_queued_runs("mdp_ingest_file"):
        with mock.patch.object(DagRun, "generate_run_id", return_value=run_id):
            files.append(_result(file_dag.test(run_conf=conf)))
    print(json.dumps({"dispatch": dispatch, "files": files}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
