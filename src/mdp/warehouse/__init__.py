"""Warehouse table specifications shared by the transform (Arrow) and the load (SQL)."""
