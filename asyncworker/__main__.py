"""`python -m asyncworker` runs the CLI."""

from asyncworker.cli import main

main()
