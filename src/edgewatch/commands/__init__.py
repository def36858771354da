"""Subcommands of the ``edgewatch`` CLI, one module per group."""

# Every command says so itself (not only through the root group), so ``-h`` works
# however a command is invoked.
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}
