"""Use cases: async functions (ctx, args) -> rows or domain objects; no strawberry here."""
