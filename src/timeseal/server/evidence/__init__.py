"""Evidence without HTTP: sealing uploads, live recordings, packages and share rules."""
