"""Airflow's local settings hook: every Airflow component imports this module at start when it
is on ``sys.path`` (the chart and the tests put the DAG folder there, for the event trigger).

Why: a task process is forked from the scheduler's LocalExecutor worker and then parses its DAG
file. For the step tasks that means importing the cncf.kubernetes provider and the Kubernetes
client - seconds of CPU per task on a busy machine, paid again by every task. Importing the
operator here, once, in the scheduler, puts it into every forked worker and task process, so a
step task parses its DAG file in milliseconds. It costs the components some tens of MiB of
memory; ``MDP_PRELOAD_PROVIDER=false`` turns it off. A failed import never stops Airflow.
"""

from __future__ import annotations

import contextlib
import os

if os.environ.get("MDP_PRELOAD_PROVIDER", "true").strip().lower() not in {"0", "false", "no"}:
    with contextlib.suppress(ImportError):  # the provider is part of the Airflow image
        import airflow.providers.cncf.kubernetes.operators.pod  # noqa: F401
