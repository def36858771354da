"""Subcommands of the ``edgewatch`` CLI, one module per group."""
