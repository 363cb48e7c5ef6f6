"""The run's verdict: a run with a failed task must end *failed*, not green.

The last real task (``summary``) runs whatever happened (trigger rule ``all_done``) and succeeds,
and Airflow derives a run's state from its leaf tasks, so without this every run would look
successful. ``watcher`` is the usual Airflow pattern: a leaf that runs only when an upstream task
failed (``one_failed``) and then fails itself. Rejected data does not count: those tasks are
skipped, and the file is in ``failed/validation_failed/`` as designed.
"""

from __future__ import annotations

from airflow.sdk import task
from airflow.sdk.exceptions import AirflowFailException


@task(trigger_rule="one_failed", retries=0)
def watcher() -> None:
    raise AirflowFailException(
        "a task of this run failed after its retries; the summary task's log lists the files"
    )
