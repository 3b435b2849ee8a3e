"""The ``local`` command: run the local SWF endpoint until SIGTERM or SIGINT.

On start it prints one line to stdout, flushed at once, holding the URL to use as
``endpoint_url`` (``asyncworker local: listening on http://127.0.0.1:8642``), so a parent process
can read it to find the port when ``--port 0`` picked one. SIGTERM and SIGINT answer waiting polls
empty, close the server and exit 0. A policy file given with ``--iam-policy``, or a database
file given with ``--db``, that cannot be used stops the command before it listens, with one
error line and exit code 2.
"""

from __future__ import annotations

import signal
import sys

import anyio
import click

from asyncworker.daemon import gcpolicy
from asyncworker.settings import DEFAULT_GC_INTERVAL, check_gc_interval

from .iam import Policy, PolicyError
from .server import EndpointOptions, local_endpoint
from .store import StoreError, check


async def serve(options: EndpointOptions, gc_interval: float = DEFAULT_GC_INTERVAL) -> None:
    """Run the endpoint until a termination signal arrives (full collections every
    ``gc_interval`` seconds: with many open executions CPython's rule stalls every call)."""
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with local_endpoint(options) as endpoint, gcpolicy.managed(gc_interval):
            click.echo(f"asyncworker local: listening on {endpoint.url}")
            sys.stdout.flush()
            async for _ in signals:
                break


def _policies(values: tuple[str, ...]) -> tuple[Policy | None, dict[str, Policy]]:
    """The ``--iam-policy`` values compiled: the default policy and those of single callers."""
    default: Policy | None = None
    principals: dict[str, Policy] = {}
    for value in values:
        key, separator, path = value.partition("=")
        if not separator or not key.isalnum():
            if default is not None:
                raise PolicyError("--iam-policy without ACCESS_KEY= may be given once")
            default = Policy.load(value)
        elif key in principals:
            raise PolicyError(f"--iam-policy names access key {key!r} twice")
        else:
            principals[key] = Policy.load(path)
    return default, principals


def _gc_interval(value: float) -> float:
    try:
        return check_gc_interval(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command(name="local")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port",
    default=8642,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="TCP port (0 picks a free one; the startup line names it).",
)
@click.option(
    "--poll-timeout",
    default=60.0,
    show_default=True,
    type=click.FloatRange(min=0.0, min_open=True),
    help="Seconds a long poll waits for a task before answering empty.",
)
@click.option(
    "--quotas",
    default="off",
    show_default=True,
    type=click.Choice(["off", "aws"]),
    help="'aws' enforces SWF's default token buckets (ThrottlingException).",
)
@click.option(
    "--latency-ms",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0.0),
    help="Latency added to every call, as a network round trip.",
)
@click.option(
    "--fault-rate",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0.0, 1.0),
    help="Fraction of activity-worker calls failing with a transient fault.",
)
@click.option("--seed", default=None, type=int, help="Seed for reproducible fault injection.")
@click.option(
    "--gc-interval",
    default=DEFAULT_GC_INTERVAL,
    show_default=True,
    type=float,
    callback=lambda _ctx, _param, value: _gc_interval(value),
    help="Seconds between checks for a whole-heap garbage collection (run if the frozen heap"
    " grew by a quarter); what became long-lived is swept and frozen every 0.1 s in between"
    " (0: CPython's own rule; else at least 1).",
)
@click.option(
    "--iam-policy",
    "iam_policies",
    multiple=True,
    metavar="[ACCESS_KEY=]FILE",
    help="IAM policy document (JSON) calls must be allowed by, else they get"
    " OperationNotPermittedFault: with ACCESS_KEY= the policy of the caller signing with that"
    " key, else of every caller without one of its own. Repeatable. Default: all allowed.",
)
@click.option(
    "--db",
    default=None,
    metavar="FILE",
    help="SQLite file keeping domains, types, executions, histories, open tasks and timers, so"
    " that a restarted endpoint resumes (created if missing). Default: memory only.",
)
def command(
    host: str,
    port: int,
    poll_timeout: float,
    quotas: str,
    latency_ms: float,
    fault_rate: float,
    seed: int | None,
    gc_interval: float,
    iam_policies: tuple[str, ...],
    db: str | None,
) -> None:
    """Run a local Amazon SWF endpoint (JSON 1.0 protocol) for development, tests and load tests."""
    try:
        policy, principals = _policies(iam_policies)
        if db is not None:
            check(db)
    except (PolicyError, StoreError) as exc:
        click.echo(f"asyncworker local: error: {exc}", err=True)
        sys.exit(2)
    options = EndpointOptions(
        host=host,
        port=port,
        poll_timeout=poll_timeout,
        quotas="aws" if quotas == "aws" else "off",
        latency_ms=latency_ms,
        fault_rate=fault_rate,
        seed=seed,
        iam_policy=policy,
        iam_principals=principals,
        db=db,
    )
    try:
        anyio.run(
            serve, options, gc_interval, backend="asyncio", backend_options={"use_uvloop": True}
        )
    except StoreError as exc:  # what the file holds cannot be replayed
        click.echo(f"asyncworker local: error: {exc}", err=True)
        sys.exit(2)
