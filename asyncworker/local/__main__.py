"""``python -m asyncworker.local``: the same command as ``asyncworker local``."""

from .cli import command

if __name__ == "__main__":
    command(prog_name="python -m asyncworker.local")
