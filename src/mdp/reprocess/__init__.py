"""Sending quarantined files from ``failed/<stage>/`` back through the pipeline."""

from mdp.reprocess.requeue import requeue_object

__all__ = ["requeue_object"]
