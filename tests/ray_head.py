"""A real local Ray head for the ray backend's tests (a pytest plugin: conftest lists it in pytest_plugins).

One head per test session, started on the first test that asks for `ray_head` and stopped at the end, as a new user
starts one: from a virtual environment's Python (venv/bin/ray) that is not activated, with a PATH on which no Python
has ray (NO_RAY_PATH), so that every job shows the entrypoint finding the node's Python by itself. It gets its own
temp folder and free ports, so it cannot meet a head someone else runs, and `--num-cpus 2` with `--memory 17 GB`
(logical): cpu-basic (2 CPUs, 16 GB) fits once, so a second job waits PENDING, and bigger flavors are refused.

Ray's daemons ignore SIGTERM and `ray stop` finds heads by name; here every process the head starts (and every job
process under it) inherits a marker variable and the head's own folder as working folder, and stopping means
SIGTERM to each process that carries either, then SIGKILL after a grace. Nothing else on the machine is touched.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx2
import pytest
from polling import wait_until

if TYPE_CHECKING:
    from trl_jobs_mcp.jobs.backends.ray import RayBackend
    from trl_jobs_mcp.server.settings import Settings

MARKER_VAR = "TRL_JOBS_TEST_RAY_HEAD"
HEAD_MEMORY = 17 * 10**9
NO_RAY_PATH = "/usr/bin:/bin"  # a system Python may be there, without ray
START_TIMEOUT_S = 120
SOCKET_PATH_MAX = 107  # sockaddr_un's sun_path, less its NUL


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def processes_with(needle: bytes, *, cwd: str | None = None) -> list[int]:
    """Live pids whose environment contains `needle` (a NAME=value entry) or, given `cwd`, whose working folder is
    in it; the calling process excluded."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
            with open(f"/proc/{name}/environ", "rb") as f:
                environ = f.read()
            where = os.readlink(f"/proc/{name}/cwd") if cwd else ""
        except OSError:
            continue
        if state in (b"Z", b"X"):
            continue
        if needle in b"\0" + environ + b"\0" or (cwd and (where + "/").startswith(cwd.rstrip("/") + "/")):
            found.append(int(name))
    return found


class RayHead:
    """A head on this machine: `address` is its dashboard; `stop()` and `start()` may be called again (same ports)."""

    def __init__(self, root: str, *, python: str = sys.executable, path: str | None = None) -> None:
        """`python` runs `ray start` (a venv's python runs it as that venv's bin/ray would); `path`, when given, is
        the PATH the head and so every job starts with."""
        self.root = root
        self.python = python
        self.path = path
        self.marker = uuid.uuid4().hex
        ports = _free_ports(10)
        (self.gcs_port, self.dashboard_port, self.agent_port, self.agent_grpc_port, self.client_port,
         self.node_manager_port, self.object_manager_port, self.metrics_port, self.runtime_env_port,
         self.min_worker_port) = ports
        self.address = f"http://127.0.0.1:{self.dashboard_port}"

    def _env(self) -> dict[str, str]:
        """What `ray start` runs with: this process's environment, marked as ours, with the PATH a user's shell
        would have (no venv activated) when one is set."""
        env = {**os.environ, MARKER_VAR: self.marker, "RAY_USAGE_STATS_ENABLED": "0"}
        env.pop("RAY_ADDRESS", None)
        if self.path is not None:
            env["PATH"] = self.path
            env.pop("VIRTUAL_ENV", None)
        return env

    def start(self) -> None:
        env = self._env()
        argv = [self.python, "-m", "ray.scripts.scripts", "start", "--head", "--num-cpus", "2",
                "--memory", str(HEAD_MEMORY), "--object-store-memory", str(100 * 2**20),
                "--node-ip-address", "127.0.0.1", "--dashboard-host", "127.0.0.1",
                "--port", str(self.gcs_port), "--dashboard-port", str(self.dashboard_port),
                "--dashboard-agent-listen-port", str(self.agent_port),
                "--dashboard-agent-grpc-port", str(self.agent_grpc_port),
                "--ray-client-server-port", str(self.client_port),
                "--node-manager-port", str(self.node_manager_port),
                "--object-manager-port", str(self.object_manager_port),
                "--metrics-export-port", str(self.metrics_port),
                "--runtime-env-agent-port", str(self.runtime_env_port),
                "--min-worker-port", "0", "--max-worker-port", "0",
                "--temp-dir", os.path.join(self.root, "t"), "--disable-usage-stats"]
        started = subprocess.run(argv, env=env, cwd=self.root, capture_output=True, text=True,
                                 timeout=START_TIMEOUT_S, check=False)
        if started.returncode != 0:
            self.stop()
            raise RuntimeError(f"ray start failed ({started.returncode}):\n{started.stdout}\n{started.stderr}")
        wait_until(self._ready, timeout=START_TIMEOUT_S, what=f"the Ray head's job API at {self.address}",
                   interval=0.3)

    def _ready(self) -> bool:
        try:
            nodes = httpx2.get(f"{self.address}/api/v0/nodes", timeout=5).json()["data"]["result"]["result"]
            return any(n.get("state") == "ALIVE" for n in nodes) and \
                httpx2.get(f"{self.address}/api/jobs/", timeout=5).status_code == 200
        except (httpx2.HTTPError, ValueError, KeyError):
            return False

    def processes(self) -> list[int]:
        # The marker is inherited by every process, but Ray's agents rename themselves (setproctitle), which
        # overwrites what /proc shows of their environment: their working folder, the head's root, finds them.
        return processes_with(f"{MARKER_VAR}={self.marker}".encode(), cwd=self.root)

    def stop(self, grace: float = 3.0) -> None:
        """SIGTERM to every process of this head (its jobs included), SIGKILL to those left after `grace`."""
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
            for pid in self.processes():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait
            while self.processes() and time.monotonic() < deadline:
                time.sleep(0.1)
        left = self.processes()
        assert not left, f"Ray head processes survived SIGKILL: {left}"


class RayWorkerNode(RayHead):
    """A second node of `head`'s cluster on this machine (`ray start --address`), with its own resources, ports and
    folder: 2 CPUs, HEAD_MEMORY, and the custom resource WORKER_RESOURCE that only it has."""

    WORKER_RESOURCE = "trl_jobs_test_worker_node"

    def __init__(self, head: RayHead, root: str) -> None:
        super().__init__(root, python=head.python, path=head.path)
        self.head = head
        self.address = head.address

    def start(self) -> None:
        env = self._env()
        argv = [self.python, "-m", "ray.scripts.scripts", "start", "--address", f"127.0.0.1:{self.head.gcs_port}",
                "--num-cpus", "2", "--memory", str(HEAD_MEMORY), "--object-store-memory", str(100 * 2**20),
                "--resources", json.dumps({self.WORKER_RESOURCE: 1}), "--node-ip-address", "127.0.0.1",
                "--dashboard-agent-listen-port", str(self.agent_port),
                "--dashboard-agent-grpc-port", str(self.agent_grpc_port),
                "--node-manager-port", str(self.node_manager_port),
                "--object-manager-port", str(self.object_manager_port),
                "--metrics-export-port", str(self.metrics_port),
                "--runtime-env-agent-port", str(self.runtime_env_port),
                "--min-worker-port", "0", "--max-worker-port", "0", "--disable-usage-stats"]
        started = subprocess.run(argv, env=env, cwd=self.root, capture_output=True, text=True,
                                 timeout=START_TIMEOUT_S, check=False)
        if started.returncode != 0:
            self.stop()
            raise RuntimeError(f"ray start --address failed ({started.returncode}):\n{started.stdout}\n{started.stderr}")
        wait_until(self._joined, timeout=START_TIMEOUT_S, what="the worker node to join the cluster", interval=0.3)

    def _joined(self) -> bool:
        try:
            nodes = httpx2.get(f"{self.address}/api/v0/nodes", params={"detail": "1"},
                               timeout=5).json()["data"]["result"]["result"]
        except (httpx2.HTTPError, ValueError, KeyError):
            return False
        return any(n.get("state") == "ALIVE" and self.WORKER_RESOURCE in (n.get("resources_total") or {})
                   for n in nodes)


@pytest.fixture(scope="session")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayHead]:
    """The session's Ray head; the tests are skipped, saying why, when ray is not installed."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("ray is not installed: `pip install -e '.[ray]'` to run the Ray backend's tests")
    # Ray's unix sockets live below the head's folder, and a socket path has 107 bytes at most: the session's tmp
    # when it is short enough, else a folder in /tmp (macOS's default temp folder is too long; issue 25).
    root = str(tmp_path_factory.mktemp("ray"))
    short = None
    if longest_socket_path(root) > SOCKET_PATH_MAX:
        short = root = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    if longest_socket_path(root) > SOCKET_PATH_MAX:
        pytest.skip(f"Ray's socket paths below {root} would be {longest_socket_path(root)} bytes, over the "
                    f"{SOCKET_PATH_MAX} a unix socket allows: set a shorter temp folder (TMPDIR=/tmp)")
    python = sys.executable
    if sys.prefix == sys.base_prefix:  # not in a venv: make one that sees this Python's packages (ray among them)
        venv = os.path.join(root, "venv")
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv], check=True)
        python = os.path.join(venv, "bin", "python")
    head = RayHead(root, python=python, path=NO_RAY_PATH)
    try:
        head.start()
        yield head
    finally:
        head.stop()
        if short:
            shutil.rmtree(short, ignore_errors=True)


def longest_socket_path(root: str) -> int:
    """The length of the longest socket path Ray makes for a head in `root` (see RayHead.start's --temp-dir)."""
    session = "session_2026-01-01_00-00-00_000000_" + "9" * 7  # date, time, microseconds and a pid
    return len(os.path.join(root, "t", session, "sockets", "dash_MetricsHead"))


@pytest.fixture(scope="session")
def ray_worker_node(ray_head: RayHead, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayWorkerNode]:
    """A second node joined to the session's head, for runs across nodes; stopped at the session's end."""
    node = RayWorkerNode(ray_head, str(tmp_path_factory.mktemp("rayw")))
    try:
        node.start()
        yield node
    finally:
        node.stop()


@pytest.fixture
async def ray_backend(ray_head: RayHead, tmp_path: Path) -> AsyncIterator[RayBackend]:
    """A RayBackend on the session's head; every job still alive at the end is canceled."""
    from trl_jobs_mcp.jobs.backends.ray import RayBackend
    from trl_jobs_mcp.jobs.core.models import JobStage

    made = RayBackend(address=ray_head.address, home=tmp_path / "state", cluster_env=True)
    await made.start()
    yield made
    for job in (await made.list(stages={JobStage.SCHEDULING, JobStage.RUNNING}, limit=1000)).jobs:
        await made.cancel(job.id)
    await made.aclose()


def ray_settings(head: RayHead, home: Path) -> Settings:
    """Server settings for the ray backend on `head`, with its state in `home`."""
    from trl_jobs_mcp.server.settings import Settings

    return Settings.from_env({}, backend="ray", home=home, ray_address=head.address, ray_cluster_env=True)


def job_processes(job_id: str) -> list[int]:
    """The live processes of a job (they carry its id in their environment)."""
    return processes_with(f"TRL_JOBS_JOB_ID={job_id}".encode())
