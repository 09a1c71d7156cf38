"""Live updates: GraphQL subscriptions fed by events published after commit."""
