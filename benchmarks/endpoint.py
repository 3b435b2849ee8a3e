"""Server CPU per poll+respond pair: the local SWF endpoint against moto server.

Each server runs in its own process pinned to core 1 (``taskset -c 1``); this client pins itself
to core 0. The client speaks SWF's JSON 1.0 protocol over a raw keep-alive HTTP connection, with
the headers botocore sends (SigV4 Authorization, X-Amz-Date, User-Agent, ...), so the server
parses what it would parse in production while the client itself stays cheap.

For each server and each number of idle open executions, the same call sequence runs: register a
domain and types, open the idle executions (each with a pending decision task, as SWF leaves
them), start work executions whose decider schedules activity tasks, then the measured phase:
``pairs`` times PollForActivityTask + RespondActivityTaskCompleted, one after the other. Server
CPU is read just before and after the measured phase (see ``Server.cpu_seconds``).

    .venv/bin/python -m benchmarks.endpoint                  # defaults below
    .venv/bin/python -m benchmarks.endpoint --idle 0 --idle 100000 --moto-idle 0 --moto-idle 200
    .venv/bin/python -m benchmarks.endpoint --db          # also the local endpoint with --db FILE

``local-db`` is the local endpoint keeping its state in a SQLite file (``--db``, in a fresh
temporary directory), measured the same way.

The last line printed is a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

SERVER_CORE = "1"
CLIENT_CORE = 0
ACTIVITIES_PER_EXECUTION = 1000
PIPELINE_BATCH = 200
_HEADERS_TEMPLATE = (
    "POST / HTTP/1.1\r\n"
    "Host: {host}\r\n"
    "Accept-Encoding: identity\r\n"
    "X-Amz-Target: SimpleWorkflowService.{operation}\r\n"
    "Content-Type: application/x-amz-json-1.0\r\n"
    "User-Agent: Boto3/1.43.117 md/Botocore#1.43.117 ua/2.1 os/linux#6.1 md/arch#x86_64 "
    "lang/python#3.11.7 md/pyimpl#CPython m/Z,b cfg/retry-mode#legacy Botocore/1.43.117\r\n"
    "X-Amz-Date: 20260101T000000Z\r\n"
    "Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/swf/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
    "Signature=0000000000000000000000000000000000000000000000000000000000000000\r\n"
    "amz-sdk-invocation-id: 00000000-0000-4000-8000-000000000000\r\n"
    "amz-sdk-request: attempt=1\r\n"
    "Content-Length: {length}\r\n\r\n"
)


class SwfConnection:
    """A minimal keep-alive JSON 1.0 client on one socket (reconnects if the server closes)."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._sock: socket.socket | None = None
        self._buffer = b""

    def _connect(self) -> socket.socket:
        if self._sock is None:
            self._sock = socket.create_connection((self.host, self.port))
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._buffer = b""
        return self._sock

    def _request_bytes(self, operation: str, body: dict[str, Any]) -> bytes:
        payload = json.dumps(body).encode()
        head = _HEADERS_TEMPLATE.format(host=self.host, operation=operation, length=len(payload))
        return head.encode() + payload

    def call(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        """One call; raises ``RuntimeError`` on an HTTP error status."""
        sock = self._connect()
        sock.sendall(self._request_bytes(operation, body))
        return self._read_response(operation)

    def pipeline(self, operation: str, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send a batch of calls back to back, then read their answers in order.

        A server that closes the connection after each answer (moto's HTTP/1.0) gets the calls
        one at a time instead.
        """
        if not bodies:
            return []
        answers = [self.call(operation, bodies[0])]
        if self._sock is None:
            return answers + [self.call(operation, body) for body in bodies[1:]]
        sock = self._connect()
        sock.sendall(b"".join(self._request_bytes(operation, body) for body in bodies[1:]))
        return answers + [self._read_response(operation) for _ in bodies[1:]]

    def _read_response(self, operation: str) -> dict[str, Any]:
        sock = self._sock
        assert sock is not None
        while b"\r\n\r\n" not in self._buffer:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self._buffer += chunk
        head, _, rest = self._buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])
        }
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection mid-body")
            rest += chunk
        body, self._buffer = rest[:length], rest[length:]
        if headers.get("connection", "").lower() == "close" or lines[0].startswith("HTTP/1.0"):
            sock.close()
            self._sock = None
        if status >= 300:
            raise RuntimeError(f"{operation}: HTTP {status}: {body[:300]!r}")
        parsed: dict[str, Any] = json.loads(body) if body else {}
        return parsed

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


@dataclass
class Server:
    """A server process pinned to the server core."""

    name: str
    process: subprocess.Popen[str]
    host: str
    port: int
    workdir: tempfile.TemporaryDirectory[str] | None = None

    def cpu_seconds(self) -> float:
        """CPU time of the server process so far.

        The local endpoint is one thread: its scheduler run time (``/proc/<pid>/schedstat``,
        nanoseconds) is exact. moto serves each connection on a thread that exits, so its
        user + system time comes from ``/proc/<pid>/stat``, which keeps exited threads' time
        (in clock ticks: use enough pairs).
        """
        if self.name.startswith("local"):
            with open(f"/proc/{self.process.pid}/schedstat") as handle:
                return int(handle.read().split()[0]) / 1e9
        with open(f"/proc/{self.process.pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_megabytes(self) -> float:
        """Resident memory of the server process."""
        with open(f"/proc/{self.process.pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        if self.workdir is not None:
            self.workdir.cleanup()


_MOTO_LAUNCHER = """
import logging, sys, threading
logging.disable(logging.CRITICAL)
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
host, port = server.get_host_and_port()
print(f"moto listening on http://{host}:{port}", flush=True)
threading.Event().wait()
"""


def start_server(name: str) -> Server:
    """Start ``local``, ``local-db`` or ``moto`` on the server core and read the URL it
    prints."""
    workdir = None
    if name.startswith("local"):
        argv = [sys.executable, "-m", "asyncworker.local", "--port", "0", "--poll-timeout", "1"]
        if name == "local-db":
            workdir = tempfile.TemporaryDirectory(prefix="endpoint-db-")
            argv += ["--db", os.path.join(workdir.name, "swf.db")]
    else:
        argv = [sys.executable, "-c", _MOTO_LAUNCHER]
    process = subprocess.Popen(
        ["taskset", "-c", SERVER_CORE, *argv], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if "http://" not in line:
        process.kill()
        raise RuntimeError(f"{name} did not start: {line!r}")
    address = line.rsplit("http://", 1)[1].strip()
    host, _, port = address.rpartition(":")
    return Server(name, process, host, int(port), workdir)


def setup(conn: SwfConnection, idle: int, work_executions: int) -> None:
    """Register types, open ``idle`` idle executions and schedule the work's activity tasks."""
    conn.call("RegisterDomain", {"name": "bench", "workflowExecutionRetentionPeriodInDays": "1"})
    conn.call("RegisterDomain", {"name": "idle", "workflowExecutionRetentionPeriodInDays": "1"})
    for domain in ("bench", "idle"):
        conn.call(
            "RegisterWorkflowType",
            {
                "domain": domain,
                "name": "wf",
                "version": "1",
                "defaultTaskList": {"name": "decisions"},
                "defaultExecutionStartToCloseTimeout": "3600",
                "defaultTaskStartToCloseTimeout": "600",
                "defaultChildPolicy": "TERMINATE",
            },
        )
    conn.call(
        "RegisterActivityType",
        {
            "domain": "bench",
            "name": "act",
            "version": "1",
            "defaultTaskList": {"name": "activities"},
            "defaultTaskScheduleToStartTimeout": "NONE",
            "defaultTaskScheduleToCloseTimeout": "NONE",
            "defaultTaskStartToCloseTimeout": "600",
            "defaultTaskHeartbeatTimeout": "NONE",
        },
    )
    workflow = {"name": "wf", "version": "1"}
    for start in range(0, idle, PIPELINE_BATCH):
        bodies = [
            {"domain": "idle", "workflowId": f"idle-{n}", "workflowType": workflow}
            for n in range(start, min(idle, start + PIPELINE_BATCH))
        ]
        conn.pipeline("StartWorkflowExecution", bodies)
    for n in range(work_executions):
        conn.call(
            "StartWorkflowExecution",
            {"domain": "bench", "workflowId": f"work-{n}", "workflowType": workflow},
        )
        task = conn.call(
            "PollForDecisionTask", {"domain": "bench", "taskList": {"name": "decisions"}}
        )
        decisions = [
            {
                "decisionType": "ScheduleActivityTask",
                "scheduleActivityTaskDecisionAttributes": {
                    "activityType": {"name": "act", "version": "1"},
                    "activityId": f"a-{i}",
                    "input": "x" * 64,
                },
            }
            for i in range(ACTIVITIES_PER_EXECUTION)
        ]
        conn.call(
            "RespondDecisionTaskCompleted", {"taskToken": task["taskToken"], "decisions": decisions}
        )


def measure(server: Server, idle: int, pairs: int) -> dict[str, Any]:
    """Run the sequence against ``server``; returns CPU per pair and throughput."""
    conn = SwfConnection(server.host, server.port)
    work = -(-pairs // ACTIVITIES_PER_EXECUTION)
    begun = time.perf_counter()
    setup(conn, idle, work)
    setup_seconds = time.perf_counter() - begun
    poll = {"domain": "bench", "taskList": {"name": "activities"}, "identity": "bench-worker"}
    cpu_before = server.cpu_seconds()
    wall_before = time.perf_counter()
    for _ in range(pairs):
        task = conn.call("PollForActivityTask", poll)
        conn.call("RespondActivityTaskCompleted", {"taskToken": task["taskToken"], "result": "ok"})
    wall = time.perf_counter() - wall_before
    cpu = server.cpu_seconds() - cpu_before
    conn.close()
    return {
        "server": server.name,
        "idle_executions": idle,
        "pairs": pairs,
        "server_cpu_us_per_pair": round(cpu / pairs * 1e6, 1),
        "pairs_per_second": round(pairs / wall, 1),
        "setup_seconds": round(setup_seconds, 1),
        "server_rss_mb": round(server.rss_megabytes()),
    }


def run(name: str, idle: int, pairs: int) -> dict[str, Any]:
    server = start_server(name)
    try:
        return measure(server, idle, pairs)
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5000, help="measured pairs (local)")
    parser.add_argument("--idle", type=int, action="append", help="idle executions (local)")
    parser.add_argument("--moto-pairs", type=int, default=100, help="measured pairs (moto)")
    parser.add_argument("--moto-idle", type=int, action="append", help="idle executions (moto)")
    parser.add_argument("--db", action="store_true", help="also the local endpoint with --db")
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, {CLIENT_CORE})
    results = [run("local", idle, args.pairs) for idle in (args.idle or [0, 100_000])]
    if args.db:
        results += [run("local-db", 0, args.pairs)]
    results += [run("moto", idle, args.moto_pairs) for idle in (args.moto_idle or [0])]
    for result in results:
        print(
            f"{result['server']:>5}  idle={result['idle_executions']:>6}  "
            f"pairs={result['pairs']:>5}  cpu/pair={result['server_cpu_us_per_pair']:>9.1f} us  "
            f"{result['pairs_per_second']:>8.1f} pairs/s  setup {result['setup_seconds']} s  "
            f"rss {result['server_rss_mb']} MB"
        )
    local = [r for r in results if r["server"] == "local"]
    moto = [r for r in results if r["server"] == "moto"]
    with_db = [r for r in results if r["server"] == "local-db"]
    summary: dict[str, Any] = {"results": results}
    if local and with_db and local[0]["server_cpu_us_per_pair"]:
        summary["db_to_memory_ratio"] = round(
            with_db[0]["server_cpu_us_per_pair"] / local[0]["server_cpu_us_per_pair"], 2
        )
    if len(local) > 1 and local[0]["server_cpu_us_per_pair"]:
        summary["local_idle_ratio"] = round(
            local[-1]["server_cpu_us_per_pair"] / local[0]["server_cpu_us_per_pair"], 2
        )
    if local and moto and local[0]["server_cpu_us_per_pair"]:
        summary["moto_to_local_ratio"] = round(
            moto[0]["server_cpu_us_per_pair"] / local[0]["server_cpu_us_per_pair"], 1
        )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
