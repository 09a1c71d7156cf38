"""Infrastructure of Storefront BFF: settings, database, models, loaders, ASGI app and CLI."""
