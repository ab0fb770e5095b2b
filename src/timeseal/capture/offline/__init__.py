"""Sealing existing files, the offline queue, and what a capture uploads to the vault."""
