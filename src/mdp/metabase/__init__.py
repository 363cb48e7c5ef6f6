"""Metabase dashboards as code: the content file's model and the idempotent provisioner."""
