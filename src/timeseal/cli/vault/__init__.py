"""The vault's transfers from the command line: tus uploads that resume, downloads that
resume and check the SHA-256 (the commands are :mod:`timeseal.cli.vault_cmd`)."""
