"""Helpers shared by test modules: rows to write against, and reading them back."""
