"""``python -m edgewatch``: the same as the ``edgewatch`` command."""

from edgewatch.cli import main

if __name__ == "__main__":
    main()
