"""Carts: a shopper's lines of variants and quantities, before checkout (persistence only)."""
