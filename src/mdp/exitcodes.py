"""Documented exit codes of every ``mdp`` step, read by the orchestrator to decide on retries.

| code | meaning                                                  | orchestrator   |
|------|----------------------------------------------------------|----------------|
| 0    | done (accepted, or already done, or duplicate)           | continue       |
| 1    | fault: network, database, lock held, bug                 | retry          |
| 2    | usage error (bad arguments)                              | fail, no retry |
| 3    | rejected data, file quarantined in failed/               | no retry       |
| 4    | terminal fault: missing object, bad config, migrations   | fail, no retry |

``mdp.errors.exit_code`` maps an error to its code; tests/test_exit_codes.py checks that every
exception raised in the package ends in one of these.
"""

OK = 0
FAULT = 1
USAGE = 2
REJECTED = 3
TERMINAL = 4
