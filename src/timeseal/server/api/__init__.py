"""The HTTP API: JSON under ``/api/v1`` and the public log under ``/log``; routes, request models
and error answers, over the services."""
