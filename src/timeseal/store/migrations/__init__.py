"""Alembic migrations of the TimeSeal database (see docs/storage.md).

Run by :func:`timeseal.store.db.migrate`; for developers, ``python -m
timeseal.store.migrations revision -m "..."`` writes a new revision.
"""
