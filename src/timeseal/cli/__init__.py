"""The ``timeseal`` command."""
