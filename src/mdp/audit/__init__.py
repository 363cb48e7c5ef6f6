"""The file ingestion audit log (``audit.file_ingestion_log``)."""

from mdp.audit.log import AuditLog, AuditRecord, Status

__all__ = ["AuditLog", "AuditRecord", "Status"]
