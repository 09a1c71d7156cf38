"""The catalog's persistence: its models, SQL, loaders and demo seed."""
