"""The arithmetic of ``make bench-cluster`` (tests/cluster/bench_throughput.py): a step's time
split into phases from Airflow's task times and a watch on its pods, and their summary.

Phases of one step task (its first try):

- *queue*: from the moment the step could start (its upstream task ended, or its run started)
  to Airflow starting its task process (scheduler loop, pool slots, executor slots);
- *pod start*: from the task process starting to the step's container running (the task parses
  its DAG file and creates the pod; the kubelet makes the sandbox and starts the container);
- *step*: the container running;
- *teardown*: from the container ending to the task ending (logs, completion poll, deletion).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

STEPS = ("validate", "transform", "load", "summary")
PHASES = ("queue", "pod start", "step", "teardown")


@dataclass(frozen=True)
class TaskTimes:
    """One step task's first try and its run, as epoch seconds (Airflow's metadata)."""

    run_started: float
    started: float
    ended: float


@dataclass(frozen=True)
class PodTimes:
    """One step pod as a watch saw it, epoch seconds; ``key`` names its run (as ``phases``
    keys the tasks), ``try_number`` is the operator's label."""

    key: str
    step: str
    try_number: int
    running: float | None = None
    ended: float | None = None


def phases(
    tasks: dict[tuple[str, str], TaskTimes], pods: list[PodTimes]
) -> dict[str, dict[str, list[float]]]:
    """step -> phase -> seconds, one value per file whose first try's pod was seen to end."""
    first: dict[tuple[str, str], PodTimes] = {}
    for pod in pods:
        if pod.try_number == 1 and pod.running is not None and pod.ended is not None:
            first[(pod.key, pod.step)] = pod
    found: dict[str, dict[str, list[float]]] = {s: {p: [] for p in PHASES} for s in STEPS}
    for (key, step), task in tasks.items():
        pod = first.get((key, step))
        if step not in found or pod is None or pod.running is None or pod.ended is None:
            continue
        if step == STEPS[0]:
            ready = task.run_started
        else:
            upstream = tasks.get((key, STEPS[STEPS.index(step) - 1]))
            if upstream is None:
                continue
            ready = upstream.ended
        found[step]["queue"].append(task.started - ready)
        found[step]["pod start"].append(pod.running - task.started)
        found[step]["step"].append(pod.ended - pod.running)
        found[step]["teardown"].append(task.ended - pod.ended)
    return found


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` 0..1) of a non-empty list."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summary(values: list[float]) -> str:
    """``median … p95 … max …`` in seconds, or ``-`` for no values."""
    if not values:
        return "-"
    return (
        f"median {statistics.median(values):6.1f} s  p95 {percentile(values, 0.95):6.1f} s"
        f"  max {max(values):6.1f} s  (n={len(values)})"
    )


def report(title: str, by_step: dict[str, dict[str, list[float]]]) -> str:
    lines = [f"{title}: each step's first try, by phase"]
    for step, by_phase in by_step.items():
        for phase in PHASES:
            lines.append(f"  {step:<9} {phase:<9} {summary(by_phase[phase])}")
    return "\n".join(lines)
