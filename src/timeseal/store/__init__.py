"""Persistence: the database (SQLite by default, PostgreSQL to scale out) and blob storage."""
