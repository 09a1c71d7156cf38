"""Accounts: customers and staff, their passwords, sessions and refresh tokens (persistence only)."""
