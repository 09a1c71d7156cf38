"""Persisted documents: the operations a first-party client registered (trusted documents), and the queries
clients registered by hash at run time (automatic persisted queries)."""
