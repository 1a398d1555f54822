"""``python -m cli``: the ``intermimic`` command."""

from cli import main

main()
