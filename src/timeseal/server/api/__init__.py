"""The JSON API under ``/api/v1``: routes, request models and error answers, over the services."""
