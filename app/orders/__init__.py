"""Orders: what a checkout bought, at the prices of that moment, and its status over time (persistence)."""
