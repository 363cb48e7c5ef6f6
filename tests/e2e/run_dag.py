"""Run one production DAG once with ``dag.test()`` in this process; print the task states.

Started by the end-to-end tests as a subprocess, because Airflow reads its configuration
(``AIRFLOW__*``, ``AIRFLOW_CONN_*``, ``MDP_*``) once at import time and each test needs its own.
The DAG comes from the real DAG folder through Airflow's own DagBag: nothing here changes it.

Usage: python -m tests.e2e.run_dag <dag_id> [run conf as JSON]
Last line of stdout: {"state": ..., "tasks": {"<task_id>[<map_index>]": "<state>", ...}}
"""

from __future__ import annotations

import json
import os
import sys


def main() -> int:
    dag_id = sys.argv[1]
    conf = json.loads(sys.argv[2]) if len(sys.argv) > 2 else None
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        print(json.dumps({"import_errors": bag.import_errors}))
        return 2
    dag = bag.get_dag(dag_id)
    run = dag.test(run_conf=conf)
    tasks = {
        f"{ti.task_id}[{ti.map_index}]": (ti.state, ti.try_number)
        for ti in run.get_task_instances()
    }
    print(json.dumps({"state": run.state, "run_id": run.run_id, "tasks": tasks}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
