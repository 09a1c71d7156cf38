"""GraphQL shape of Storefront BFF: strawberry types, inputs, enums and root fields."""
