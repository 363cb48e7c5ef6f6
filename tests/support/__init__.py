"""Helpers shared by the tests: sample rows and files, the mdp command as a process, the crash
harness, warehouse dumps, the test servers' databases, pinned versions."""
