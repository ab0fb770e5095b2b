"""The platform's server: HTTP in ``api/`` and ``web/``, services in rooms without HTTP."""
