"""One module per check kind; see edgewatch.health.registry."""
