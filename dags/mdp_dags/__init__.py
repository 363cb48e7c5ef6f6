"""Shared code of the Mini Data Platform DAGs (``mdp_ingest``, ``mdp_reprocess``).

Imports only the standard library, Airflow and the cncf.kubernetes provider at parse time, so the
DAG files parse in the scheduler without the platform's own package (that lives in the step
images). ``.airflowignore`` keeps the DAG processor from parsing this folder as DAG files.
"""
