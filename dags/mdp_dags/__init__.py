"""Shared code of the Mini Data Platform DAGs (``mdp_ingest``, ``mdp_ingest_file``,
``mdp_reprocess``).

Imports only the standard library, Airflow and the cncf.kubernetes provider at parse time, so the
DAG files parse in the scheduler without the platform's own package (that lives in the step
images). ``.airflowignore`` keeps the DAG processor from parsing this folder as DAG files.

``platform`` holds every value the DAGs share with ``mdp`` (checked by a drift test), ``config``
the ``MDP_*`` settings, ``podspec`` the pure builder of a step's pod, ``operator`` the operator
that runs it, ``shape`` the task policy and a file's chain of steps; ``dispatch``, ``events`` and
``objects`` find the files, ``naming`` derives names from their keys, ``contracts`` reads the
datasets, ``watch`` fails a run whose task failed.
"""
