"""Allow ``python -m mosr.cli`` (and ``accelerate launch -m mosr.cli``)."""

from mosr.cli import main

main()
