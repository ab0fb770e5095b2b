"""Accounts, sessions and API tokens, and the tables of the login-code limits."""
