"""``python -m timeseal.cli``: the ``timeseal`` command."""

from timeseal.cli.main import main

main()
