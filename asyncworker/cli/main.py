"""The `asyncworker` command group and its worker commands: run, register, check.

Every error a user can cause (bad settings, a bad APP, a missing domain, an unreachable endpoint)
ends as one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, TypeVar

import anyio
import click

from asyncworker.activity import ActivityRegistry
from asyncworker.cli.options import CONNECTION, settings_from_options, worker_options
from asyncworker.daemon.logs import configure_logging
from asyncworker.daemon.run import run_daemon
from asyncworker.daemon.telemetry import tracing
from asyncworker.errors import ConfigError, SwfFault
from asyncworker.metrics import package_version
from asyncworker.swf.admin import domain_exists, ensure_activity_types, ensure_domain
from asyncworker.swf.connect import RESPONSE_READ_TIMEOUT, open_client
from asyncworker.worker import Worker

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from asyncworker.settings import WorkerSettings

T = TypeVar("T")
EXIT_USAGE = 2


def run_async(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run `fn(*args)` on asyncio with uvloop (aiobotocore needs asyncio)."""
    return anyio.run(fn, *args, backend="asyncio", backend_options={"use_uvloop": True})


def load_app(app: str) -> ActivityRegistry:
    """Import `module:attribute` and return the ActivityRegistry it names."""
    module_name, _, attribute = app.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"APP must be module:attribute, got {app!r}")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ConfigError(f"cannot import APP module {module_name!r}: {exc}") from None
    registry = getattr(module, attribute, None)
    if not isinstance(registry, ActivityRegistry):
        found = "nothing" if registry is None else type(registry).__name__
        raise ConfigError(f"APP {app!r} must name an ActivityRegistry, found {found}")
    return registry


class LazyGroup(click.Group):
    """A group whose heavier commands are imported only when named (or listed by --help)."""

    LAZY: ClassVar[dict[str, str]] = {
        "local": "asyncworker.local.cli:command",
        "loadtest": "asyncworker.loadtest.cli:loadtest_command",
        "demo": "asyncworker.loadtest.cli:demo_command",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.LAZY:
            module, _, attribute = self.LAZY[cmd_name].partition(":")
            command: click.Command = getattr(importlib.import_module(module), attribute)
            return command
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_version(), prog_name="asyncworker")
def cli() -> None:
    """asyncworker: an async, high-throughput worker pool for Amazon SWF activity tasks."""


@cli.command()
@click.argument("app")
@worker_options()
def run(app: str, **options: Any) -> None:
    """Run the worker pool for the activity registry APP (module:attribute) until SIGTERM."""
    settings = settings_from_options(options)
    configure_logging(settings.log_format, settings.log_level)
    registry = load_app(app)
    with tracing(settings.domain) as interceptors:
        run_async(run_daemon, Worker(registry, settings, interceptors=interceptors))


@cli.command()
@click.argument("app")
@worker_options(only=CONNECTION)
@click.option("--create-domain", is_flag=True, help="Register the domain too if it is missing.")
@click.option("--retention-days", default=1, show_default=True, type=click.IntRange(0, 90))
def register(app: str, create_domain: bool, retention_days: int, **options: Any) -> None:
    """Register APP's activity types (and optionally the domain), idempotently."""
    settings = settings_from_options(options)
    registry = load_app(app)
    created = run_async(_register, settings, registry, create_domain, retention_days)
    for line in created:
        click.echo(line)


async def _register(
    settings: WorkerSettings, registry: ActivityRegistry, create_domain: bool, retention_days: int
) -> list[str]:
    lines: list[str] = []
    async with open_client(
        region=settings.region,
        endpoint_url=settings.endpoint_url,
        max_pool_connections=2,
        read_timeout=RESPONSE_READ_TIMEOUT,
    ) as client:
        try:
            if create_domain:
                if await ensure_domain(client, settings.domain, retention_days=retention_days):
                    lines.append(f"registered domain {settings.domain}")
            elif not await domain_exists(client, settings.domain):
                raise ConfigError(
                    f"domain {settings.domain!r} is not registered (add --create-domain)"
                )
            created = await ensure_activity_types(client, settings.domain, registry)
            lines.extend(f"registered activity type {name}" for name in created)
        except SwfFault as fault:
            raise ConfigError(f"registration failed: {fault}") from None
    already = len(registry) - sum(line.startswith("registered activity") for line in lines)
    lines.append(f"{len(registry)} activity types in {settings.domain} ({already} already there)")
    return lines


@cli.command()
@click.argument("app")
@worker_options()
def check(app: str, **options: Any) -> None:
    """Validate the settings and import APP without starting; exit 0 when all is well."""
    settings = settings_from_options(options)
    registry = load_app(app)
    click.echo(f"settings ok: domain={settings.domain} task_lists={','.join(settings.task_lists)}")
    click.echo(f"APP ok: {len(registry)} activity types: {', '.join(registry.names())}")


def _fail(message: str) -> NoReturn:
    click.echo(f"asyncworker: error: {message}", err=True)
    sys.exit(EXIT_USAGE)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: click without its multi-line usage errors or tracebacks."""
    try:
        cli.main(args=argv, prog_name="asyncworker", standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        _fail(exc.format_message().replace("\n", " "))
    except ConfigError as exc:
        _fail(str(exc))
    except SwfFault as exc:
        _fail(str(exc))
    except BaseExceptionGroup as group:
        config_errors, rest = group.split((ConfigError, SwfFault))
        if config_errors is not None and rest is None:
            first: BaseException = config_errors
            while isinstance(first, BaseExceptionGroup):
                first = first.exceptions[0]
            _fail(str(first))
        raise


if __name__ == "__main__":
    main()
