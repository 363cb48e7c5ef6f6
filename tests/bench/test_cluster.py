from bench.cluster import PHASES, PodTimes, TaskTimes, percentile, phases, report, summary


def _file(key: str, start: float) -> tuple[dict[tuple[str, str], TaskTimes], list[PodTimes]]:
    """A file whose run starts at ``start``; each step queues 1 s, its pod starts in 2 s, the
    container runs 3 s and the task ends 0.5 s after it."""
    tasks, pods, ready = {}, [], start
    for step in ("validate", "transform", "load", "summary"):
        began = ready + 1
        tasks[(key, step)] = TaskTimes(run_started=start, started=began, ended=began + 5.5)
        pods.append(PodTimes(key, step, 1, running=began + 2, ended=began + 5))
        ready = began + 5.5
    return tasks, pods


def test_each_step_is_split_into_queue_pod_start_step_and_teardown() -> None:
    tasks, pods = _file("incoming/sales/a.csv", 100.0)
    found = phases(tasks, pods)
    for step in ("validate", "transform", "load", "summary"):
        assert [found[step][p] for p in PHASES] == [[1.0], [2.0], [3.0], [0.5]], step


def test_only_the_first_try_and_pods_seen_to_end_count() -> None:
    tasks, pods = _file("incoming/sales/a.csv", 100.0)
    retried = [p for p in pods if p.step != "load"]
    retried.append(PodTimes("incoming/sales/a.csv", "load", 2, running=1.0, ended=2.0))
    retried.append(PodTimes("incoming/sales/b.csv", "load", 1, running=1.0))  # never ended
    found = phases(tasks, retried)
    assert found["load"]["step"] == []
    assert found["transform"]["step"] == [3.0]


def test_a_step_without_its_upstream_task_is_left_out() -> None:
    tasks, pods = _file("incoming/sales/a.csv", 100.0)
    del tasks[("incoming/sales/a.csv", "transform")]
    found = phases(tasks, pods)
    assert found["load"]["queue"] == [] and found["validate"]["queue"] == [1.0]


def test_percentile_and_summary() -> None:
    values = [float(v) for v in range(1, 21)]
    assert percentile(values, 0.5) == 11.0 and percentile(values, 0.95) == 19.0
    assert percentile([4.0], 0.95) == 4.0
    assert summary([]) == "-"
    assert "median   10.5 s" in summary(values) and "max   20.0 s  (n=20)" in summary(values)
    assert "validate  queue" in report("burst", phases(*_file("k", 0.0)))
