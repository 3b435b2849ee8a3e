"""WorkerSettings: the one validated settings object.

Every setting comes, highest precedence first, from a CLI flag, an `ASYNCWORKER_<NAME>` environment
variable, the `[worker]` table of a TOML file (`--config` or `ASYNCWORKER_CONFIG`), or its default.
`load_settings()` is the only way the CLI builds it, and turns any invalid value into a one-line
`ConfigError` naming the setting.
"""

from __future__ import annotations

import math
import os
import socket
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import ByteSize, Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from asyncworker.claimcheck import (
    DEFAULT_MAX_BYTES,
    bucket_problem,
    prefix_problem,
    threshold_problem,
)
from asyncworker.codec import MAX_DATA
from asyncworker.errors import ConfigError
from asyncworker.names import name_problem

if TYPE_CHECKING:
    from collections.abc import Mapping

ENV_PREFIX = "ASYNCWORKER_"
CONFIG_ENV = "ASYNCWORKER_CONFIG"
MAX_POLLERS_PER_TASK_LIST = 1_000
"""SWF rejects more than 1,000 concurrent polls on one task list (LimitExceededFault)."""

DEFAULT_GC_INTERVAL = 60.0
"""Seconds between whole-heap collections unless configured (``gc_interval``)."""
MIN_GC_INTERVAL = 1.0
"""Shorter intervals would spend most of the loop's time collecting with many tasks in flight."""

_config_file: ContextVar[Path | None] = ContextVar("asyncworker_config_file", default=None)


def check_gc_interval(value: float) -> float:
    """``value`` as a ``gc_interval``, or ValueError saying what is allowed."""
    if not math.isfinite(value) or value < 0 or 0 < value < MIN_GC_INTERVAL:
        raise ValueError(
            f"must be 0 (CPython's rule) or a number of seconds, at least {MIN_GC_INTERVAL:g}"
        )
    return value


CGROUP_ROOT = Path("/sys/fs/cgroup")


def cpu_quota(
    cgroup_root: Path = CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")
) -> int | None:
    """The CPUs a cgroup CPU quota allows this process (rounded up), if one is set and readable:
    a container limited to 1.5 CPUs gets 2 processes, not one per host core. cgroup v2's
    `cpu.max` first, then v1's `cpu.cfs_quota_us` / `cpu.cfs_period_us`."""
    v2 = [cgroup_root / "cpu.max"]
    try:
        for line in proc_cgroup.read_text().splitlines():
            if line.startswith("0::"):
                v2.insert(0, cgroup_root / line[3:].lstrip("/") / "cpu.max")
    except OSError:
        pass
    for path in v2:
        try:
            quota, period = path.read_text().split()[:2]
        except (OSError, ValueError):
            continue
        return _cpus(quota, period)
    for v1 in (cgroup_root / "cpu", cgroup_root / "cpu,cpuacct"):
        try:
            quota = (v1 / "cpu.cfs_quota_us").read_text().strip()
            period = (v1 / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            continue
        return _cpus(quota, period)
    return None


def _cpus(quota: str, period: str) -> int | None:
    """CPUs of a quota per period, rounded up; None for no quota ("max", -1) or nonsense."""
    try:
        cpus = int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None
    return max(1, math.ceil(cpus)) if cpus > 0 else None


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity), capped by a cgroup v2 CPU quota."""
    cpus = len(os.sched_getaffinity(0))
    quota = cpu_quota()
    return max(1, min(cpus, quota) if quota is not None else cpus)


def default_identity() -> str:
    """`host:pid`, as SWF shows it in ActivityTaskStarted events."""
    return f"{socket.gethostname()}:{os.getpid()}"[:256]


class WorkerSettings(BaseSettings):
    """Settings of a worker pool, validated once at start."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="forbid", validate_default=True
    )

    domain: str = Field(min_length=1, max_length=256, description="SWF domain to poll.")
    task_lists: Annotated[tuple[str, ...], NoDecode] = Field(
        default=("default",),
        min_length=1,
        description="Task lists to poll (env: comma-separated).",
    )
    pollers: int = Field(
        default=4, ge=1, le=MAX_POLLERS_PER_TASK_LIST, description="Concurrent polls per task list."
    )
    max_concurrency: int = Field(
        default=100,
        ge=1,
        le=100_000,
        description="Slots: tasks held from poll to acknowledged response.",
    )
    thread_limit: int = Field(default=40, ge=1, le=10_000, description="Threads for sync handlers.")
    process_limit: int = Field(
        default_factory=usable_cpus,
        ge=1,
        le=1_024,
        description='Worker processes for handlers registered with executor="process"'
        " (default: the usable CPUs, honouring a cgroup CPU quota).",
    )
    cancel_grace: float = Field(
        default=10.0,
        ge=0,
        le=3_600,
        description="Seconds a process handler gets to stop after a cancel request before its"
        " process is killed (SIGTERM, then SIGKILL) and the task answered Canceled.",
    )
    max_tasks_per_process: int = Field(
        default=0,
        ge=0,
        le=10_000_000,
        description="Retire a worker process after this many tasks (0: never).",
    )
    max_process_memory: ByteSize = Field(
        default=ByteSize(0),
        ge=0,
        description="Resident memory a worker process may use (e.g. 1.5GiB; 0: no limit): over"
        " it while running, the process is killed and its task failed; between tasks, retired.",
    )
    response_concurrency: int = Field(
        default=32, ge=1, le=1_000, description="Respond* calls in flight at once."
    )
    batch_max: int = Field(default=64, ge=1, le=10_000, description="Outcomes drained per batch.")
    drain_timeout: float = Field(
        default=30.0, ge=0, le=86_400, description="Seconds running tasks get on shutdown."
    )
    identity: str = Field(
        default_factory=default_identity,
        min_length=1,
        max_length=256,
        description="Worker identity recorded by SWF (default host:pid).",
    )
    region: str | None = Field(
        default=None,
        min_length=1,
        description="AWS region (default: AWS_REGION, AWS_DEFAULT_REGION or ~/.aws/config).",
    )
    endpoint_url: str | None = Field(
        default=None, description="SWF endpoint URL (the local endpoint, moto); default: AWS."
    )
    metrics_host: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="Bind address of /metrics, /healthz, /readyz (0.0.0.0 in containers).",
    )
    metrics_port: int | None = Field(
        default=9464,
        ge=0,
        le=65_535,
        description="Port of the HTTP server (0: any free; none: off).",
    )
    log_format: Literal["json", "console"] | None = Field(
        default=None, description="json or console (default: console when stderr is a TTY)."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        default="INFO", description="Log level."
    )
    fast_client: bool = Field(
        default=True,
        description="Build each SWF request once and only sign and send it per call (the same"
        " bytes on the wire, less than half the CPU); false: plain aiobotocore calls.",
    )
    heartbeat_rate: float = Field(
        default=100.0, gt=0, le=10_000, description="Heartbeats per second this worker may send."
    )
    backlog_interval: float = Field(
        default=0.0,
        ge=0,
        description="Seconds between CountPendingActivityTasks samples (0: off; at least 30).",
    )
    max_activities_per_second: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="Tasks per second this worker may take, over all its task lists: a token"
        " bucket with one second of burst, taken before each poll (none: no limit).",
    )
    task_list_rates: Annotated[dict[str, float], NoDecode] = Field(
        default_factory=dict,
        description="Tasks per second per task list, as list=rate pairs (flag and env:"
        " comma-separated; TOML: a table); every list must be one of task_lists.",
    )
    task_list_concurrency: Annotated[dict[str, int], NoDecode] = Field(
        default_factory=dict,
        description="Slots per task list, as list=slots pairs (flag and env: comma-separated;"
        " TOML: a table), within max_concurrency, so a slow list cannot take every slot.",
    )
    admin_endpoints: bool = Field(
        default=False,
        description="Serve POST /pause and POST /resume on the metrics server; they carry no"
        " authentication, so keep metrics_host on 127.0.0.1 or a private network.",
    )
    gc_interval: float = Field(
        default=DEFAULT_GC_INTERVAL,
        ge=0,
        description="Seconds between checks for a whole-heap garbage collection, which runs if"
        " the frozen heap grew by a quarter since the last one and at most 500 tasks are in"
        " flight (or 30 intervals passed); in between, what became long-lived is swept every"
        " 0.1 s and frozen, instead of CPython's growth rule stopping the loop for a full"
        " collection every few seconds with thousands of tasks in flight (0: CPython's rule;"
        " else at least 1).",
    )
    payload_bucket: str | None = Field(
        default=None,
        description="S3 bucket of claim-check values (none: values over SWF's limits fail).",
    )
    payload_prefix: str = Field(
        default="asyncworker",
        description="Key prefix of claim-check objects (give it a lifecycle rule).",
    )
    payload_threshold: int = Field(
        default=MAX_DATA,
        description="Claim-check values longer than this many characters (UTF-16, as SWF counts)"
        " go to S3.",
    )
    payload_max_bytes: int = Field(
        default=DEFAULT_MAX_BYTES,
        ge=1,
        le=1024**3,
        description="Largest claim-check value in UTF-8 bytes, in and out (5 MiB, as simpleflow).",
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="S3 endpoint URL (moto, MinIO); default: AWS."
    )

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """TOML's `true`/`false` is no number, though pydantic would take it as 1/0 (so
        `drain_timeout = false` would drain at once, `task_list_rates = {a = true}` allow 1/s):
        a boolean goes only to a boolean setting."""
        if info.field_name is None or info.field_name in _BOOLEAN_FIELDS:
            return value
        values = value.values() if isinstance(value, dict) else (value,)
        if any(isinstance(item, bool) for item in values):
            raise ValueError("must not be true or false")
        return value

    @field_validator("domain")
    @classmethod
    def _check_domain(cls, value: str) -> str:
        if problem := name_problem(value):
            raise ValueError(f"domain name {value!r} {problem}")
        return value

    @field_validator("task_lists", mode="before")
    @classmethod
    def _split_task_lists(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("task_lists")
    @classmethod
    def _check_task_lists(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not 1 <= len(name) <= 256:
                raise ValueError(f"task list names are 1-256 characters, got {name!r}")
            if problem := name_problem(name):
                raise ValueError(f"task list name {name!r} {problem}")
        if len(set(value)) != len(value):
            raise ValueError("task lists must not repeat")
        return value

    @field_validator("metrics_port", mode="before")
    @classmethod
    def _port_none(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in {"none", "off"}:
            return None
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("payload_bucket")
    @classmethod
    def _check_bucket(cls, value: str | None) -> str | None:
        if value is not None and (problem := bucket_problem(value)):
            raise ValueError(problem)
        return value

    @field_validator("payload_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if problem := prefix_problem(value):
            raise ValueError(problem)
        return value

    @field_validator("payload_threshold")
    @classmethod
    def _check_threshold(cls, value: int) -> int:
        if problem := threshold_problem(value):
            raise ValueError(problem)
        return value

    @field_validator("endpoint_url", "s3_endpoint_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("must be an http(s) URL")
        return value

    @field_validator("gc_interval")
    @classmethod
    def _check_gc_interval(cls, value: float) -> float:
        return check_gc_interval(value)

    @field_validator("backlog_interval")
    @classmethod
    def _check_backlog(cls, value: float) -> float:
        if 0 < value < 30:
            raise ValueError("must be 0 (off) or at least 30 s: CountPendingActivityTasks is 6/s")
        return value

    @field_validator("max_activities_per_second", mode="before")
    @classmethod
    def _rate_none(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in {"none", "off", ""}:
            return None
        return value

    @field_validator("task_list_rates", "task_list_concurrency", mode="before")
    @classmethod
    def _split_pairs(cls, value: Any) -> Any:
        return parse_pairs(value) if isinstance(value, str) else value

    @field_validator("task_list_rates")
    @classmethod
    def _check_rates(cls, value: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        _check_known(value, info)
        for name, rate in value.items():
            if not (math.isfinite(rate) and rate > 0):
                raise ValueError(f"the rate of task list {name!r} must be a positive number")
        return value

    @field_validator("task_list_concurrency")
    @classmethod
    def _check_concurrency(cls, value: dict[str, int], info: ValidationInfo) -> dict[str, int]:
        _check_known(value, info)
        for name, slots in value.items():
            if slots < 1:
                raise ValueError(f"the slots of task list {name!r} must be at least 1")
        return value

    @property
    def total_pollers(self) -> int:
        return self.pollers * len(self.task_lists)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = _config_file.get()
        if path is None:
            return (init_settings, env_settings)
        file_source = TomlConfigSettingsSource(settings_cls, path, toml_table_header=("worker",))
        return (init_settings, env_settings, file_source)


_BOOLEAN_FIELDS = frozenset(
    name for name, field in WorkerSettings.model_fields.items() if field.annotation is bool
)


def parse_pairs(text: str) -> dict[str, str]:
    """`a=1,b=2.5` as `{"a": "1", "b": "2.5"}` (values are converted by the field's type).

    A pair splits at its last `=`: SWF allows `=` in a task list's name, never in a number."""
    pairs: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        name, sep, value = part.rpartition("=")
        if not sep or not name.strip() or not value.strip():
            raise ValueError(f"expected task_list=value pairs separated by commas, got {part!r}")
        pairs[name.strip()] = value.strip()
    return pairs


def _check_known(value: Mapping[str, object], info: ValidationInfo) -> None:
    """Every task list named in `value` is one the worker polls (a typo would limit nothing)."""
    task_lists = info.data.get("task_lists")
    if task_lists is None:  # task_lists itself was invalid: its error is the one reported
        return
    unknown = sorted(set(value) - set(task_lists))
    if unknown:
        raise ValueError(f"unknown task list {unknown[0]!r} (task_lists: {', '.join(task_lists)})")


def load_settings(
    flags: Mapping[str, Any] | None = None, config_file: str | Path | None = None
) -> WorkerSettings:
    """Build WorkerSettings from flags > env > TOML `[worker]` table > defaults.

    `flags` holds only what was given on the command line. Raises `ConfigError` with one line
    naming the first bad setting.
    """
    if config_file is None and os.environ.get(CONFIG_ENV):
        config_file = os.environ[CONFIG_ENV]
    path = Path(config_file) if config_file is not None else None
    if path is not None:
        _check_config_file(path)
    given = {key: value for key, value in (flags or {}).items() if value is not None}
    token = _config_file.set(path)
    try:
        return WorkerSettings(**given)
    except ValidationError as exc:
        raise ConfigError(describe_error(exc, path)) from None
    finally:
        _config_file.reset(token)


def _check_config_file(path: Path) -> None:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    if "worker" in data and not isinstance(data["worker"], dict):
        raise ConfigError(f"config file {path}: [worker] must be a table")


def flag_for(name: str) -> str:
    """The CLI flag of setting `name` (`task_lists` is given one per flag: `--task-list`)."""
    return "--task-list" if name == "task_lists" else f"--{name.replace('_', '-')}"


def env_for(name: str) -> str:
    """The environment variable of setting `name`."""
    return f"{ENV_PREFIX}{name.upper()}"


def describe_error(exc: ValidationError, config_file: Path | None = None) -> str:
    """One line naming the first invalid setting, where it may come from, and why."""
    error = exc.errors(include_url=False)[0]
    name = str(error["loc"][0]) if error["loc"] else "settings"
    sources = f"{flag_for(name)} / {env_for(name)}"
    if config_file is not None:
        sources += f" / [worker] {name} in {config_file}"
    if error["type"] == "extra_forbidden":
        where = f" in [worker] of {config_file}" if config_file is not None else ""
        return f"unknown setting {name!r}{where}"
    if error["type"] == "missing":
        return f"setting {name!r} is required ({sources})"
    message = error["msg"].removeprefix("Value error, ")
    value = error.get("input")
    shown = f" (got {value!r})" if isinstance(value, str | int | float) else ""
    return f"invalid setting {name!r} ({sources}): {message}{shown}"
