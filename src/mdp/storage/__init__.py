"""Object store access (MinIO SDK) for every step."""

from mdp.storage.object_store import ObjectStore, Spooled

__all__ = ["ObjectStore", "Spooled"]
