"""Accounts without HTTP: login codes, sessions and API tokens, and SMS delivery."""
