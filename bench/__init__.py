"""The benchmark of the GraphQL server against a hand-written limit; run `python -m bench`."""
