"""Prometheus metrics of the platform (``mdp metrics serve``), computed at scrape time.

``collect`` reads the facts (audit log, listing of ``incoming/``) as plain data; ``exporter``
turns them into metric families and serves them over HTTP. What each metric means:
docs/observability.md.
"""
