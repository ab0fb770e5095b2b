"""The HTTP API: JSON under ``/api/v1``, the public log under ``/log``, ``/healthz`` and
``/tsa/certs``; routes, request models and error answers, over the services."""
