"""`python -m gateway.cli ...`, the same as the `gateway` script."""

from gateway.cli import main

main()
