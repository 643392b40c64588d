"""``python -m mlseam.cli``: the same as the ``mlseam`` console script."""

from mlseam.cli import main

main()
