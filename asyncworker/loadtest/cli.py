"""`asyncworker loadtest` and `asyncworker demo`.

Exit codes: 0 the run ended (and met its thresholds); 1 a `--max-p99` / `--min-throughput`
threshold was missed; 2 the run could not happen (bad flags, unreachable endpoint, missing
domain or types), always as one line on stderr. Exits use `SystemExit`, so they hold whether
click runs standalone or under the `asyncworker` group's non-standalone `main()`.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NoReturn

import anyio
import click
from rich.console import Console

from asyncworker.cli.options import settings_from_options, worker_options
from asyncworker.daemon.logs import configure_logging
from asyncworker.errors import ConfigError, SwfFault
from asyncworker.loadtest.report import threshold_misses
from asyncworker.loadtest.rig import DEFAULT_DOMAIN, RigConfig, RigError
from asyncworker.loadtest.session import Session, run_session
from asyncworker.loadtest.workload import (
    ActivitySpec,
    ActivityTimeouts,
    PlanError,
    Workload,
    parse_mix,
)
from asyncworker.settings import CONFIG_ENV, WorkerSettings, env_for

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from asyncworker.activity import ActivityRegistry
    from asyncworker.loadtest.measure import RunResult

EXIT_THRESHOLD = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
DEMO_DOMAIN = "asyncworker-demo"
DEMO_MIX = (
    ActivitySpec("echo", "1", "hello", weight=70),
    ActivitySpec("sleep", "1", "0.05", weight=20),
    ActivitySpec("cpu", "1", "2", weight=7),
    ActivitySpec("fail", "1", "a demo failure", weight=3),
)
"""The demo's mix: mostly echo and short sleeps, some CPU, a few failures."""
_ERRORS = (ConfigError, RigError, PlanError, SwfFault)


def _fail(command: str, message: str, code: int = EXIT_ERROR) -> NoReturn:
    click.echo(f"asyncworker {command}: error: {message}", err=True)
    sys.exit(code)


def _user_error(exc: BaseException) -> BaseException | None:
    """The first error the user can act on inside `exc` (or its exception groups), if any."""
    if isinstance(exc, _ERRORS):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _user_error(inner)
            if found is not None:
                return found
    return None


async def _on_interrupt(command: str, stop: anyio.Event, console: Console) -> None:
    """First Ctrl-C: stop the run (its report follows). Second: exit at once."""
    with anyio.open_signal_receiver(signal.SIGINT) as signals:
        async for _ in signals:
            if not stop.is_set():
                stop.set()
                console.print(  # through the console: the live panel stays intact
                    f"asyncworker {command}: interrupted: stopping, the report follows"
                    " (Ctrl-C again to quit at once)",
                    highlight=False,
                    soft_wrap=True,
                )
                continue
            console.show_cursor(True)
            click.echo(f"asyncworker {command}: interrupted again: quitting", err=True)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(EXIT_INTERRUPTED)


async def _interruptible(command: str, session: Session, console: Console) -> RunResult:
    """The session, stopped early by a first Ctrl-C and abandoned by a second."""
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_on_interrupt, command, stop, console)
        result = await run_session(session, console, stop)
        tg.cancel_scope.cancel()
    return result


def _execute(command: str, session: Session, console: Console) -> RunResult:
    """Run the session on asyncio + uvloop; user errors end the process with exit code 2.

    After a Ctrl-C the partial report is printed and the files are written, then the process
    exits 130.
    """
    try:
        result = anyio.run(
            _interruptible,
            command,
            session,
            console,
            backend="asyncio",
            backend_options={"use_uvloop": True},
        )
    except KeyboardInterrupt:  # before the signal handler was in place
        click.echo(f"asyncworker {command}: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except BaseException as exc:
        error = _user_error(exc)
        if error is None:
            raise
        _fail(command, str(error))
    if result.interrupted:
        click.echo(f"asyncworker {command}: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    return result


def _check_writable(flag: str, path: Path | None) -> None:
    """Raise ConfigError unless `path` can be written, without creating or truncating it."""
    if path is None:
        return
    if path.is_dir():
        problem = "is a directory"
    elif not path.parent.is_dir():
        problem = f"has no directory {str(path.parent)!r}"
    elif not os.access(path if path.exists() else path.parent, os.W_OK):
        problem = "cannot be written"
    else:
        return
    raise ConfigError(f"{flag} {str(path)!r} {problem}")


def _check_outputs(json_path: Path | None, csv_path: Path | None, html_path: Path | None) -> None:
    """Every output file can be written, and `--html` has its library: before anything starts."""
    _check_writable("--json", json_path)
    _check_writable("--csv", csv_path)
    _check_writable("--html", html_path)
    if html_path is not None:
        from asyncworker.loadtest.htmlreport import ReportUnavailable, check_available

        try:
            check_available()
        except ReportUnavailable as exc:
            raise ConfigError(str(exc)) from None


def _check_types(specs: Sequence[ActivitySpec], registry: ActivityRegistry) -> None:
    """Every type of the mix is one the in-process pool runs."""
    known = registry.names()
    for spec in specs:
        if spec.type_name not in known:
            raise PlanError(
                f"--activity {spec.type_name}: unknown activity type"
                f" (the in-process pool runs {', '.join(known)})"
            )


def _mix_parameter(specs: Sequence[ActivitySpec]) -> str:
    total = sum(spec.weight for spec in specs)
    return ", ".join(
        f"{spec.type_name} {spec.weight / total:.0%} (input {spec.input!r})" for spec in specs
    )


def _parameters(rig: RigConfig, where: str, pool: str) -> tuple[tuple[str, str], ...]:
    """The run's parameters for the HTML report, the command line first."""
    arrivals = f"{rig.arrivals}, seed {rig.seed}" if rig.seed is not None else rig.arrivals
    length = [f"{rig.duration:g} s"] if rig.duration is not None else []
    length += [f"{rig.count} activities"] if rig.count is not None else []
    return (
        ("command", shlex.join(["asyncworker", *sys.argv[1:]])),
        ("endpoint", where),
        ("domain", rig.domain),
        ("task list", rig.workload.task_list),
        ("offered rate", f"{rig.rate:g} activities/s ({arrivals})"),
        ("length", " or ".join(length)),
        ("fan-out", f"{rig.workload.fan_out} activities per workflow"),
        ("mix", _mix_parameter(rig.workload.activities)),
        ("worker", pool),
        ("deciders", str(rig.deciders)),
        ("interval", f"{rig.interval:g} s"),
        ("tail timeout", f"{rig.tail_timeout:g} s"),
        ("started", time.strftime("%Y-%m-%d %H:%M:%S %Z")),
    )


def _mix_options(default: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`--activity` (repeatable, with weights), `--input` (repeatable, per type) and `--html`."""

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        options = [
            click.option(
                "--activity",
                "activities",
                multiple=True,
                metavar="NAME:VERSION[=WEIGHT]",
                help="Activity type to schedule, repeatable for a mix; WEIGHT (a positive"
                f" integer) is its share of the mix. [default: {default}]",
            ),
            click.option(
                "--input",
                "inputs",
                multiple=True,
                metavar="[NAME=]TEXT",
                help="Input of every activity; NAME=TEXT (NAME or NAME:VERSION of a type in"
                " the mix) for one type. Repeatable.",
            ),
            click.option(
                "--html",
                "html_path",
                type=click.Path(dir_okay=False, path_type=Path),
                default=None,
                help="Write a self-contained HTML report with charts to FILE"
                " (needs the 'report' extra).",
            ),
        ]
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


def _unset(options: dict[str, Any], name: str) -> bool:
    """Whether pool setting `name` can come from nowhere: no flag, variable or config file."""
    if options.get("config") or os.environ.get(CONFIG_ENV):
        return False  # the file may set it; its value must win over the rig's defaults
    return options.get(name) is None and not os.environ.get(env_for(name))


def _pool_settings(options: dict[str, Any], local: bool) -> WorkerSettings:
    """WorkerSettings from the pool flags, with the rig's defaults for what was not given."""
    options = dict(options)
    if local and _unset(options, "domain"):
        options["domain"] = DEFAULT_DOMAIN  # a fresh embedded endpoint: any name will do
    if _unset(options, "metrics_port"):
        options["metrics_port"] = "0"  # any free port: never collide with a running daemon
    if _unset(options, "log_level"):
        options["log_level"] = "WARNING"  # the progress display is the output
    return settings_from_options(options)


@click.command("loadtest")
@click.option("--local", is_flag=True, help="Run against the embedded local SWF endpoint.")
@click.option(
    "--worker",
    "worker_mode",
    type=click.Choice(["inprocess", "none"]),
    default=None,
    help="Run a pool in this process, or leave the work to an external fleet."
    " [default: inprocess with --local, else none]",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=100.0,
    show_default=True,
    help="Offered load in activities per second (open model).",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds of arrivals. [default: 60 unless --count]",
)
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=None,
    help="Activities to offer in total (with --duration: whichever ends first).",
)
@click.option(
    "--fan-out",
    type=click.IntRange(1, 1000),
    default=10,
    show_default=True,
    help="Activities per workflow execution.",
)
@_mix_options(default="echo:1")
@click.option(
    "--setup",
    "do_setup",
    is_flag=True,
    help="Register the domain, the rig's workflow type and the example activity"
    " types (idempotent; implied by --local).",
)
@click.option(
    "--deciders",
    type=click.IntRange(1, 1000),
    default=4,
    show_default=True,
    help="Concurrent decision pollers.",
)
@click.option(
    "--start-concurrency",
    type=click.IntRange(1, 1000),
    default=32,
    show_default=True,
    help="StartWorkflowExecution calls in flight.",
)
@click.option(
    "--tail-timeout",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds to wait after the last arrival for open workflows to close.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=1.0,
    show_default=True,
    help="Seconds per progress line / CSV row.",
)
@click.option(
    "--arrivals",
    type=click.Choice(["uniform", "poisson"]),
    default="uniform",
    show_default=True,
    help="Spacing of workflow arrivals.",
)
@click.option("--seed", type=int, default=None, help="Seed of the arrival and mix draws.")
@click.option(
    "--schedule-to-start-timeout",
    type=click.IntRange(min=1),
    default=None,
    help="Seconds, per activity [default: the type's].",
)
@click.option(
    "--start-to-close-timeout",
    type=click.IntRange(min=1),
    default=None,
    help="Seconds, per activity [default: the type's].",
)
@click.option(
    "--schedule-to-close-timeout",
    type=click.IntRange(min=1),
    default=None,
    help="Seconds, per activity [default: the type's].",
)
@click.option(
    "--heartbeat-timeout",
    type=click.IntRange(min=1),
    default=None,
    help="Seconds, per activity [default: the type's].",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the result document to FILE.",
)
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write one row per interval to FILE.",
)
@click.option(
    "--max-p99",
    type=click.FloatRange(min=0),
    default=None,
    metavar="SECONDS",
    help="Exit 1 when schedule-to-close p99 exceeds SECONDS.",
)
@click.option(
    "--min-throughput",
    type=click.FloatRange(min=0),
    default=None,
    metavar="N",
    help="Exit 1 when fewer than N activities per second completed.",
)
@click.option("--no-live", is_flag=True, help="Plain progress lines even on a terminal.")
@worker_options()
def loadtest_command(
    local: bool,
    worker_mode: Literal["inprocess", "none"] | None,
    rate: float,
    duration: float | None,
    count: int | None,
    fan_out: int,
    activities: tuple[str, ...],
    inputs: tuple[str, ...],
    html_path: Path | None,
    do_setup: bool,
    deciders: int,
    start_concurrency: int,
    tail_timeout: float,
    interval: float,
    arrivals: Literal["uniform", "poisson"],
    seed: int | None,
    schedule_to_start_timeout: int | None,
    start_to_close_timeout: int | None,
    schedule_to_close_timeout: int | None,
    heartbeat_timeout: int | None,
    json_path: Path | None,
    csv_path: Path | None,
    max_p99: float | None,
    min_throughput: float | None,
    no_live: bool,
    **pool_options: Any,
) -> None:
    """Drive SWF with an open-model load of fan-out workflows and measure the worker fleet.

    Latencies come from the SWF history timestamps (schedule-to-start, start-to-close,
    schedule-to-close). The pool flags configure the in-process pool (--worker inprocess) and
    name the domain, region, endpoint and the task list the activities go to.
    """
    command = "loadtest"
    if local and pool_options.get("endpoint_url"):
        _fail(command, "--local and --endpoint-url exclude each other")
    inprocess = (worker_mode or ("inprocess" if local else "none")) == "inprocess"
    from asyncworker.examples.basic import registry

    try:
        _check_outputs(json_path, csv_path, html_path)
        mix = parse_mix(activities or ("echo:1",), inputs)
        if inprocess:
            _check_types(mix, registry)
        settings = _pool_settings(pool_options, local)
        timeouts = ActivityTimeouts(
            schedule_to_start=schedule_to_start_timeout,
            start_to_close=start_to_close_timeout,
            schedule_to_close=schedule_to_close_timeout,
            heartbeat=heartbeat_timeout,
        )
        workload = Workload(
            mix,
            fan_out=fan_out,
            task_list=settings.task_lists[0],
            timeouts=timeouts,
        )
        rig = RigConfig(
            domain=settings.domain,
            workload=workload,
            rate=rate,
            duration=duration if duration is not None or count is not None else 60.0,
            count=count,
            deciders=deciders,
            start_concurrency=start_concurrency,
            tail_timeout=tail_timeout,
            interval=interval,
            arrivals=arrivals,
            seed=seed,
        )
    except (ConfigError, PlanError, ValueError) as exc:
        _fail(command, str(exc))
    configure_logging(settings.log_format, settings.log_level)
    where = "embedded local endpoint" if local else settings.endpoint_url or "AWS"
    pool = f"in-process pool, {settings.max_concurrency} slots" if inprocess else "external"
    session = Session(
        rig=rig,
        region=settings.region,
        endpoint_url=settings.endpoint_url,
        local=local,
        setup=do_setup,
        registry=registry,
        worker=settings if inprocess else None,
        json_path=json_path,
        csv_path=csv_path,
        html_path=html_path,
        parameters=_parameters(rig, where, pool),
        max_p99=max_p99,
        min_throughput=min_throughput,
        live=not no_live,
    )
    result = _execute(command, session, Console())
    misses = threshold_misses(result, max_p99=max_p99, min_throughput=min_throughput)
    for miss in misses:
        click.echo(f"asyncworker {command}: threshold missed: {miss}", err=True)
    if misses:
        sys.exit(EXIT_THRESHOLD)


@click.command("demo")
@click.option(
    "--duration",
    type=click.FloatRange(min=1),
    default=30.0,
    show_default=True,
    help="Seconds of load.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=200.0,
    show_default=True,
    help="Activities per second.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port of the pool's /metrics on 127.0.0.1 (0: any free port).",
)
@_mix_options(default=" ".join(f"{spec.type_name}={spec.weight:g}" for spec in DEMO_MIX))
@click.option("--no-live", is_flag=True, help="Plain progress lines even on a terminal.")
def demo_command(
    duration: float,
    rate: float,
    metrics_port: int,
    activities: tuple[str, ...],
    inputs: tuple[str, ...],
    html_path: Path | None,
    no_live: bool,
) -> None:
    """Run everything in this process: local SWF endpoint, worker pool and a load test.

    No AWS account, credentials or network needed: a mix of the example activities (mostly
    echo and short sleeps, some CPU, a few failures) runs for --duration seconds; the pool's
    /metrics is served on 127.0.0.1 meanwhile. The HTML report is written to --html, or to a
    file in the temporary directory when the 'report' extra is installed.
    """
    from asyncworker.examples.basic import registry

    configure_logging(None, "WARNING")
    try:
        html_path = _demo_html_path(html_path)
        _check_outputs(None, None, html_path)
        mix = _demo_mix(activities, inputs)
        _check_types(mix, registry)
    except (ConfigError, PlanError) as exc:
        _fail("demo", str(exc))
    try:
        settings = WorkerSettings(
            domain=DEMO_DOMAIN,
            task_lists=("default",),
            region="us-east-1",
            metrics_host="127.0.0.1",
            metrics_port=metrics_port,
            pollers=8,
            max_concurrency=200,
            log_level="WARNING",
        )
    except ValueError as exc:  # pydantic: an ASYNCWORKER_* variable conflicts
        _fail("demo", str(exc).splitlines()[0])
    try:
        rig = RigConfig(
            domain=DEMO_DOMAIN,
            workload=Workload(mix, fan_out=10, task_list="default"),
            rate=rate,
            duration=duration,
            tail_timeout=15.0,
        )
    except ValueError as exc:  # a rate or duration that is no number (nan, inf)
        _fail("demo", str(exc))
    session = Session(
        rig=rig,
        region="us-east-1",
        local=True,
        registry=registry,
        worker=settings,
        html_path=html_path,
        parameters=_parameters(
            rig, "embedded local endpoint", f"in-process pool, {settings.max_concurrency} slots"
        ),
        title="asyncworker demo",
        live=not no_live,
    )
    _execute("demo", session, Console())


def _demo_mix(activities: Sequence[str], inputs: Sequence[str]) -> tuple[ActivitySpec, ...]:
    """The mix of `--activity`, or the demo's own (with its inputs, unless `--input` says)."""
    if activities:
        return parse_mix(activities, inputs)
    references = [f"{spec.type_name}={spec.weight:g}" for spec in DEMO_MIX]
    defaults = {spec.type_name: spec.input for spec in DEMO_MIX}
    return parse_mix(references, inputs, defaults)


def _demo_html_path(html_path: Path | None) -> Path | None:
    """`--html`, or a new file in the temporary directory when matplotlib is installed."""
    if html_path is not None:
        return html_path.absolute()
    from asyncworker.loadtest.htmlreport import ReportUnavailable, check_available

    try:
        check_available()
    except ReportUnavailable as exc:
        click.echo(f"asyncworker demo: no HTML report: {exc}", err=True)
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(tempfile.gettempdir()) / f"asyncworker-demo-{stamp}-{os.getpid()}.html"
