"""Click options generated from WorkerSettings, so every command shares one set of flags.

Flags are passed to `load_settings()` as given (strings), so flags, environment variables and the
TOML file are validated by the same rules and fail with the same one-line message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import click

from asyncworker.settings import WorkerSettings, env_for, flag_for, load_settings

F = TypeVar("F", bound=Callable[..., Any])

CONNECTION = ("domain", "region", "endpoint_url")
"""The settings a command that only talks to SWF needs."""
_METAVARS = {int: "INTEGER", float: "SECONDS"}


def worker_options(only: tuple[str, ...] | None = None) -> Callable[[F], F]:
    """Decorate a click command with a flag per WorkerSettings field (or those in `only`), plus
    `--config`. Unset flags stay None and do not override env or file values."""

    def decorate(command: F) -> F:
        names = [name for name in WorkerSettings.model_fields if only is None or name in only]
        for name in reversed(names):
            field = WorkerSettings.model_fields[name]
            annotation = field.annotation
            metavar = _METAVARS.get(annotation, "TEXT") if isinstance(annotation, type) else "TEXT"
            help_text = f"{field.description} [env {env_for(name)}]"
            if name == "task_lists":
                option = click.option(
                    flag_for(name),
                    name,
                    multiple=True,
                    metavar="NAME",
                    help=f"{help_text}; repeatable",
                )
            else:
                option = click.option(
                    flag_for(name), name, default=None, metavar=metavar, help=help_text
                )
            command = option(command)
        return click.option(
            "--config",
            "config",
            default=None,
            metavar="FILE",
            help="TOML file with a [worker] table [env ASYNCWORKER_CONFIG].",
        )(command)

    return decorate


def settings_from_options(options: Mapping[str, Any]) -> WorkerSettings:
    """Build WorkerSettings from the values of `worker_options()` flags; raises ConfigError."""
    flags = {key: value for key, value in options.items() if key in WorkerSettings.model_fields}
    if not flags.get("task_lists"):
        flags.pop("task_lists", None)
    return load_settings(flags, options.get("config"))
