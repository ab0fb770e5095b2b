"""The JSON API under ``/api/v1`` (accounts for now): see ``auth.include_auth``."""
