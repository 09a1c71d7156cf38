"""Pure ASGI middleware, one concern per module, with no domain or GraphQL knowledge."""
