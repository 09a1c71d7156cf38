"""Alembic migrations of the Storefront BFF schema."""
