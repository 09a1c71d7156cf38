"""Storefront BFF's application: composition roots and settings at the top, then one package per role.

`graphql/` (GraphQL machinery), `web/` (ASGI middleware) and `db/` (database, loaders, migrations, node
registry) know no domain; each domain (`catalog/`) keeps its persistence in its own package.
"""
