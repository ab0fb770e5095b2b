"""``python -m timeseal``: the ``timeseal`` command, as the console script runs it."""

from timeseal.cli.main import main

main()
