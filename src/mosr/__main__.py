"""Allow ``python -m mosr``."""

from mosr.cli import main

main()
