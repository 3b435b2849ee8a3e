"""`python -m asyncworker` runs the CLI."""

from asyncworker.cli.main import main

main()
