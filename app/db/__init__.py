"""Database infrastructure with no domain knowledge: the engine and request database, the SQL counter,
keyset pagination, the generic loaders and their per-request bundle, the node registry and global IDs,
and the Alembic migrations."""
