"""Revision scripts, oldest first: ``v<rev>_<slug>.py`` (Alembic skips this file)."""
