"""A small, faithful fake of the Hugging Face Jobs REST API, served on 127.0.0.1 for the real `huggingface_hub`.

Written from huggingface_hub 2.4's own client (hf_api.py, _jobs_api.py, utils/_http.py, utils/_pagination.py):

- `GET /api/whoami-v2` answers who the bearer token belongs to (user and orgs).
- `POST /api/jobs/{namespace}` takes the job spec the client builds (`dockerImage`, `command`, `environment`,
  `secrets`, `flavor`, `timeoutSeconds`, `labels`) and answers the job, camelCase, stage SCHEDULING.
- `GET /api/jobs/{namespace}` lists newest first, filtered by repeated `stage=` and `label=k=v`, a page at a time
  with a GitHub style `Link: <...>; rel="next"` header (huggingface_hub's `paginate`).
- `GET /api/jobs/{namespace}/{id}`, `POST .../cancel`.
- `GET .../logs` is a server-sent event stream, `data: {"timestamp": "...Z", "data": "line"}`, that replays the
  whole history on every connection (or its last `tail` events), then stays open, with `: keep-alive` comments,
  until the job is terminal. Running jobs start with a `===== Job started at ... =====` event, as the real ones do
  (the client drops it).
- `GET .../metrics` streams one `event: metric` sample per interval while the job runs, 406 once it has ended.
- `GET /api/datasets/{org}/{name}` answers a dataset's card metadata (`FakeHFJobs.datasets`), for column checks.
- `GET /api/jobs/hardware` lists flavors with prices per minute in micro-dollars.
- `POST /api/jobs/{namespace}/{id}/duplicate` (rerun_job) starts a new job with the same spec, secrets included.
- Scheduled jobs under `/api/scheduled-jobs/{namespace}`: create (`{"jobSpec", "schedule", "suspend",
  "concurrency"}`), list (`label=k=v`), inspect, `DELETE`, `.../suspend`, `.../resume`, `.../schedule`, and
  `.../run` (trigger: a job now; 409 while one runs and concurrency is off). A test starts a scheduled run with
  `trigger` too, as the Hub's clock would.
- Repos, enough for create_repo + upload_file/upload_folder + repo_info: `POST /api/repos/create` (409 if it
  exists), `GET /api/{models|datasets}/{repo_id}` (404 `X-Error-Code: RepoNotFound`), `.../preupload/{rev}` (every
  file "regular", so no LFS/Xet) and `.../commit/{rev}` (NDJSON, base64 files). `repos` holds what was uploaded.
- Errors are JSON `{"error": "..."}` with the status codes the Hub uses: 401 bad token, 402/403 plan, 403 for a
  namespace the token cannot use, 404 unknown job, 400 bad spec.

Jobs do not run: a test moves them (`set_stage`, `append_log`, `finish`). Faults are injected with `fail_next`
(a status for the next matching requests) and `drop_next_launch` (the job is created, then the connection is
closed before any answer: the "lost answer" of a launch).
"""

from __future__ import annotations

import json
import re
import secrets as _secrets
import select
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

# The server's list of flavors, which the client keeps in sync with the Hub.
from fake_viewer import viewer_answer
from huggingface_hub import JobHardware

TERMINAL = ("COMPLETED", "CANCELED", "ERROR", "DELETED")
STAGES = ("SCHEDULING", "RUNNING", *TERMINAL)
# The Hub's rule for label keys and values (huggingface_hub's update_job_labels docstring).
_LABEL_RE = re.compile(r"^[A-Za-z0-9_-]{0,100}$")

# (name, pretty name, cpu, ram, accelerator or None, micro-USD per minute): the shape of /api/jobs/hardware.
DEFAULT_HARDWARE: tuple[tuple[str, str, str, str, dict[str, str] | None, int], ...] = (
    ("cpu-basic", "CPU Basic", "2 vCPU", "16 GB", None, 167),
    ("cpu-upgrade", "CPU Upgrade", "8 vCPU", "32 GB", None, 500),
    ("t4-small", "Nvidia T4 - small", "4 vCPU", "15 GB",
     {"type": "gpu", "model": "T4", "quantity": "1", "vram": "16 GB", "manufacturer": "Nvidia"}, 6667),
    ("a10g-small", "Nvidia A10G - small", "4 vCPU", "15 GB",
     {"type": "gpu", "model": "A10G", "quantity": "1", "vram": "24 GB", "manufacturer": "Nvidia"}, 16667),
    ("a10g-large", "Nvidia A10G - large", "12 vCPU", "46 GB",
     {"type": "gpu", "model": "A10G", "quantity": "1", "vram": "24 GB", "manufacturer": "Nvidia"}, 25000),
    ("a100-large", "Nvidia A100 - large", "12 vCPU", "142 GB",
     {"type": "gpu", "model": "A100", "quantity": "1", "vram": "80 GB", "manufacturer": "Nvidia"}, 41667),
    ("h200", "Nvidia H200", "23 vCPU", "256 GB",
     {"type": "gpu", "model": "H200", "quantity": "1", "vram": "141 GB", "manufacturer": "Nvidia"}, 83333),
)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class FakeJob:
    id: str
    namespace: str
    owner_type: str
    spec: dict[str, Any]
    stage: str = "SCHEDULING"
    message: str | None = None
    created_at: datetime = field(default_factory=_now)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    events: list[dict[str, str]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)  # samples the metrics stream cycles through

    def to_api(self, owner_id: str) -> dict[str, Any]:
        now = _now()
        end = self.finished_at or now
        durations: dict[str, int | None] = {
            "schedulingSecs": int(((self.started_at or end) - self.created_at).total_seconds()),
            "runningSecs": int((end - self.started_at).total_seconds()) if self.started_at else None,
            "totalSecs": int((end - self.created_at).total_seconds()),
        }
        answer: dict[str, Any] = {
            "id": self.id,
            "createdAt": _iso(self.created_at),
            "startedAt": _iso(self.started_at),
            "finishedAt": _iso(self.finished_at),
            "command": self.spec.get("command"),
            "arguments": self.spec.get("arguments", []),
            "environment": self.spec.get("environment", {}),
            # The Hub keeps secrets encrypted and never sends a value back, only the names.
            "secrets": {name: "********" for name in self.spec.get("secrets") or {}},
            "flavor": self.spec.get("flavor", "cpu-basic"),
            "labels": self.spec.get("labels"),
            "timeoutSeconds": self.spec.get("timeoutSeconds"),
            "status": {"stage": self.stage, "message": self.message},
            "durations": durations,
            "owner": {"id": owner_id, "name": self.namespace, "type": self.owner_type},
            "initiator": {"type": "user", "id": owner_id, "name": self.namespace},
        }
        for key in ("dockerImage", "spaceId"):
            if key in self.spec:
                answer[key] = self.spec[key]
        return answer


@dataclass
class _Fault:
    method: str
    route: re.Pattern[str]
    status: int
    remaining: int
    body: dict[str, Any]
    headers: dict[str, str]
    delay: float = 0.0  # with status 0: answer normally, this many seconds late


class FakeHFJobs:
    """The fake Jobs API. Use as a context manager, or call `start()` and `stop()`.

    Args:
        user: the account the token belongs to; its namespace is its name.
        token: the one token the fake accepts.
        orgs: organisations the user belongs to (usable as namespaces).
        page_size: jobs per page on list, small so that tests see pagination.
        keepalive: seconds between `: keep-alive` comments on an idle SSE stream (30 on the Hub).
        metrics_interval: seconds between metric samples.

    Example:
        >>> with FakeHFJobs() as fake:
        ...     HfApi(endpoint=fake.url, token=fake.token).whoami()["name"]
        'alice'
    """

    def __init__(self, *, user: str = "alice", token: str = "hf_fake_alice_0123456789abcdef",
                 orgs: tuple[str, ...] = ("acme",), page_size: int = 3, keepalive: float = 30.0,
                 metrics_interval: float = 0.2, read_orgs: tuple[str, ...] = ()) -> None:
        self.user = user
        self.token = token
        self.orgs = tuple(orgs)
        # Organisations the user belongs to with the "read" role: listed by whoami, no repo may be created there.
        self.read_orgs = tuple(read_orgs)
        self.page_size = page_size
        self.keepalive = keepalive
        self.metrics_interval = metrics_interval
        self.user_id = _secrets.token_hex(12)
        self.hardware = [
            {"name": name, "prettyName": pretty, "cpu": cpu, "ram": ram, "ephemeralStorage": "50 GB",
             "accelerator": acc, "unitCostMicroUSD": micro, "unitCostUSD": micro / 1e6, "unitLabel": "minute"}
            for name, pretty, cpu, ram, acc, micro in DEFAULT_HARDWARE
        ]
        self.jobs: dict[str, FakeJob] = {}
        self.scheduled: dict[str, dict[str, Any]] = {}
        # repo_id -> {"type", "private", "files": {path: bytes}, "commits": int}
        self.repos: dict[str, dict[str, Any]] = {}
        # Every request as (method, path, query): tests assert on what the client really sent.
        self.requests: list[tuple[str, str, str]] = []
        # Dataset repo id -> its card's metadata, as `GET /api/datasets/{id}` answers it in `cardData` (the
        # `dataset_info.features` a dataset card declares); any other id is a 404, as a missing repo is.
        self.datasets: dict[str, dict[str, Any]] = {}
        # Model ids `GET /api/models?author=&search=` lists (recommend_hardware's family sizes).
        self.models: list[str] = []
        # Dataset repo id -> what the dataset viewer's /size and /statistics answer (tests/fake_viewer.py).
        self.viewer: dict[str, dict[str, Any]] = {}
        self.posted_specs: list[dict[str, Any]] = []
        self.open_streams = 0
        self._plan_refusal: tuple[int, str] | None = None
        self._faults: list[_Fault] = []
        self._drop_launches = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeHFJobs:
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-hf-jobs", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeHFJobs:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what a test drives ---

    def set_stage(self, job_id: str, stage: str, message: str | None = None) -> None:
        """Move a job to `stage`. RUNNING writes the Hub's "Job started" event; a terminal stage ends its streams."""
        assert stage in STAGES, stage
        with self._cond:
            job = self.jobs[job_id]
            now = _now()
            if stage == "RUNNING" and job.started_at is None:
                job.started_at = now
                job.events.append({"timestamp": _iso(now) or "", "data": f"===== Job started at {now} ====="})
            if stage in TERMINAL:
                job.finished_at = job.finished_at or now
            job.stage = stage
            job.message = message
            self._cond.notify_all()

    def append_log(self, job_id: str, *lines: str) -> None:
        with self._cond:
            job = self.jobs[job_id]
            for line in lines:
                job.events.append({"timestamp": _iso(_now()) or "", "data": line})
            self._cond.notify_all()

    def set_metrics(self, job_id: str, *samples: dict[str, Any]) -> None:
        """What the job's metrics stream sends, one sample per interval, in turn (a default CPU sample otherwise)."""
        with self._cond:
            self.jobs[job_id].metrics = list(samples)

    def finish(self, job_id: str, stage: str = "COMPLETED", message: str | None = None) -> None:
        assert stage in TERMINAL, stage
        if self.jobs[job_id].started_at is None and stage != "CANCELED":
            self.set_stage(job_id, "RUNNING")
        self.set_stage(job_id, stage, message)

    def add_job(self, *, namespace: str | None = None, command: list[str] | None = None,
                labels: dict[str, str] | None = None, stage: str = "SCHEDULING") -> str:
        """A job created behind the client's back (by the web UI, another machine)."""
        spec = {"dockerImage": "python:3.12", "command": command or ["python", "-c", "pass"], "arguments": [],
                "environment": {}, "flavor": "cpu-basic", "labels": labels}
        job = self._create(namespace or self.user, spec)
        if stage != "SCHEDULING":
            self.set_stage(job.id, "RUNNING")
            self.set_stage(job.id, stage)
        return job.id

    # --- faults ---

    def fail_next(self, method: str, route: str, status: int, *, count: int = 1, error: str | None = None,
                  headers: dict[str, str] | None = None) -> None:
        """Answer the next `count` requests whose path matches the regex `route` with `status`."""
        body = {"error": error or HTTPStatus(status).phrase}
        with self._cond:
            self._faults.append(_Fault(method.upper(), re.compile(route), status, count, body, headers or {}))

    def stall_next(self, method: str, route: str, seconds: float, *, count: int = 1) -> None:
        """Answer the next `count` matching requests normally, but only after `seconds` (a Hub that hangs)."""
        with self._cond:
            self._faults.append(_Fault(method.upper(), re.compile(route), 0, count, {}, {}, seconds))

    def unreachable_next(self, method: str, route: str, *, count: int = 1) -> None:
        """Close the connection on the next `count` matching requests without any answer (a Hub that cannot be
        reached, as the client sees it: a transport error)."""
        with self._cond:
            self._faults.append(_Fault(method.upper(), re.compile(route), -1, count, {}, {}))

    def drop_next_launch(self, count: int = 1) -> None:
        """The next `count` launches create their job, then close the connection without answering."""
        with self._cond:
            self._drop_launches += count

    def refuse_jobs(self, status: int = 402, error: str | None = None) -> None:
        """Launching needs a plan this account does not have (402 Payment Required, or 403)."""
        self._plan_refusal = (status, error or "Jobs are available to PRO users and Team or Enterprise "
                                               "organizations. Subscribe to PRO or add credits to run Jobs.")

    def launches(self) -> int:
        return sum(1 for method, path, _ in self.requests
                   if method == "POST" and path.startswith("/api/jobs/") and path.count("/") == 3)

    # --- internals used by the handler ---

    def _create(self, namespace: str, spec: dict[str, Any]) -> FakeJob:
        with self._cond:
            job = FakeJob(id=_secrets.token_hex(12), namespace=namespace,
                          owner_type="user" if namespace == self.user else "org", spec=spec)
            self.jobs[job.id] = job
            return job

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self._cond:
            for fault in self._faults:
                if fault.method == method and fault.route.search(path) and fault.remaining > 0:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _take_drop(self) -> bool:
        with self._cond:
            if self._drop_launches > 0:
                self._drop_launches -= 1
                return True
            return False

class _Handler(BaseHTTPRequestHandler):
    owner: FakeHFJobs
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # quiet: pytest shows stderr of failing tests, and access logs drown the signal

    # --- routing ---

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        fake = self.owner
        parts = urlsplit(self.path)
        path, query = parts.path, parts.query
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        with fake._cond:
            fake.requests.append((method, path, query))
        fault = fake._take_fault(method, path)
        if fault is not None and fault.status < 0:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return None
        if fault is not None and fault.status:
            return self._json(fault.status, fault.body, fault.headers)
        if fault is not None:
            with fake._cond:
                fake._cond.wait_for(lambda: fake._stopping, timeout=fault.delay)
        if path == "/api/whoami-v2" and method == "GET":
            return self._whoami()
        viewed = viewer_answer(path, query, fake.viewer) if method == "GET" else None
        if viewed is not None:  # the dataset viewer, served here too (TRL_JOBS_DATASET_VIEWER points at it)
            return self._json(*viewed)
        if path == "/api/models" and method == "GET":
            q = dict(parse_qsl(query))
            return self._json(200, [{"id": m, "modelId": m} for m in fake.models
                                    if m.startswith(q.get("author", "") + "/") and q.get("search", "") in m])
        if path == "/api/jobs/hardware" and method == "GET":
            if not self._authorized():
                return None
            return self._json(200, fake.hardware)
        dataset = re.fullmatch(r"/api/datasets/([^/]+/[^/]+)", path)
        if dataset and method == "GET" and dataset.group(1) in fake.datasets:  # a Hub dataset's card (its columns)
            return self._json(200, {"id": dataset.group(1), "_id": "0" * 24, "sha": "0" * 40, "private": False,
                                    "cardData": fake.datasets[dataset.group(1)], "tags": [], "siblings": []})
        if path.startswith("/api/scheduled-jobs/"):
            return self._scheduled(method, path, query, raw)
        if path == "/api/repos/create" or re.match(r"/api/(models|datasets)/", path):
            return self._repos(method, path, raw)
        match = re.fullmatch(r"/api/jobs/([^/]+)(?:/([^/]+)(?:/(logs|metrics|cancel|duplicate))?)?", path)
        if not match:
            return self._json(404, {"error": f"Sorry, we can't find the page you are looking for: {path}"})
        namespace, job_id, action = match.groups()
        if not self._authorized() or not self._can_use(namespace):
            return None
        if job_id is None:
            if method == "POST":
                return self._launch(namespace, raw)
            return self._list(namespace, query)
        job = fake.jobs.get(job_id)
        if job is None or job.namespace != namespace:
            return self._json(404, {"error": "Job not found"})
        if action is None and method == "GET":
            return self._json(200, job.to_api(fake.user_id))
        if action == "cancel" and method == "POST":
            if job.stage not in TERMINAL:
                fake.set_stage(job.id, "CANCELED")
            return self._json(200, job.to_api(fake.user_id))
        if action == "duplicate" and method == "POST":
            copy = fake._create(namespace, dict(job.spec))
            with fake._cond:
                fake.posted_specs.append(copy.spec)
            return self._json(200, copy.to_api(fake.user_id))
        if action == "logs" and method == "GET":
            return self._logs(job, dict(parse_qsl(query)))
        if action == "metrics" and method == "GET":
            return self._metrics(job)
        return self._json(405, {"error": "Method not allowed"})

    # --- auth ---

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") != f"Bearer {self.owner.token}":
            self._json(401, {"error": "Invalid credentials in Authorization header"},
                       {"X-Error-Message": "Invalid credentials in Authorization header"})
            return False
        return True

    def _can_use(self, namespace: str) -> bool:
        if namespace in (self.owner.user, *self.owner.orgs):
            return True
        self._json(403, {"error": f"You don't have the rights to use jobs in the namespace {namespace}"})
        return False

    def _whoami(self) -> None:
        if not self._authorized():
            return
        fake = self.owner
        self._json(200, {
            "type": "user", "id": fake.user_id, "name": fake.user, "fullname": fake.user.title(),
            "orgs": [{"type": "org", "name": org, "id": _secrets.token_hex(12), "roleInOrg": role}
                     for orgs, role in ((fake.orgs, "write"), (fake.read_orgs, "read")) for org in orgs],
            "auth": {"type": "access_token", "accessToken": {"displayName": "fake", "role": "write"}},
        })

    # --- endpoints ---

    def _launch(self, namespace: str, raw: bytes) -> None:
        fake = self.owner
        if fake._plan_refusal is not None:
            status, error = fake._plan_refusal
            return self._json(status, {"error": error})
        try:
            spec = json.loads(raw or b"{}")
        except ValueError:
            return self._json(400, {"error": "Invalid JSON body"})
        problem = _check_spec(spec)
        if problem:
            return self._json(400, {"error": problem})
        with fake._cond:
            fake.posted_specs.append(spec)
        job = fake._create(namespace, spec)
        if fake._take_drop():
            # The job exists, but its answer never reaches the client.
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return None
        return self._json(200, job.to_api(fake.user_id))

    def _list(self, namespace: str, query: str) -> None:
        fake = self.owner
        params = parse_qsl(query, keep_blank_values=True)
        stages = {value.upper() for key, value in params if key == "stage"}
        wanted = [tuple(value.split("=", 1)) for key, value in params if key == "label" and "=" in value]
        cursor = next((value for key, value in params if key == "cursor"), None)
        with fake._cond:
            jobs = [job for job in reversed(list(fake.jobs.values())) if job.namespace == namespace]
        jobs = [job for job in jobs if not stages or job.stage in stages]
        jobs = [job for job in jobs if all((job.spec.get("labels") or {}).get(k) == v for k, v in wanted)]
        start = 0
        if cursor is not None:
            ids = [job.id for job in jobs]
            start = ids.index(cursor) + 1 if cursor in ids else len(ids)
        page = jobs[start:start + fake.page_size]
        headers = {}
        if start + fake.page_size < len(jobs):
            next_query = [(k, v) for k, v in params if k != "cursor"] + [("cursor", page[-1].id)]
            next_url = f"{fake.url}/api/jobs/{quote(namespace)}?{urlencode(next_query)}"
            headers["Link"] = f'<{next_url}>; rel="next"'
        self._json(200, [job.to_api(fake.user_id) for job in page], headers)

    def _logs(self, job: FakeJob, params: dict[str, str]) -> None:
        start = 0
        if "tail" in params:
            start = max(0, len(job.events) - int(params["tail"]))
        self._sse(self._events(job, start), lambda event: "data: " + json.dumps(event))

    def _events(self, job: FakeJob, start: int) -> Iterator[dict[str, str] | None]:
        """The job's events from `start` on, None for a keep-alive; ends once the job is terminal and all is sent,
        or when the client has gone."""
        fake = self.owner
        sent = start
        next_keepalive = time.monotonic() + fake.keepalive
        while True:
            with fake._cond:
                pending = job.events[sent:]
                over = job.stage in TERMINAL or fake._stopping
                if not pending and not over:
                    # Wait in short slices so a client that hung up is noticed without writing to it.
                    fake._cond.wait(min(0.05, max(0.0, next_keepalive - time.monotonic())))
                    pending = job.events[sent:]
                    over = job.stage in TERMINAL or fake._stopping
            for event in pending:
                yield event
            sent += len(pending)
            if over and sent >= len(job.events):
                return
            if pending:
                next_keepalive = time.monotonic() + fake.keepalive
            elif time.monotonic() >= next_keepalive:
                yield None
                next_keepalive = time.monotonic() + fake.keepalive
            elif self._client_gone():
                return

    def _client_gone(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _metrics(self, job: FakeJob) -> None:
        fake = self.owner
        if job.stage in TERMINAL:
            return self._json(406, {"error": "Job is not running"})

        def samples() -> Iterator[dict[str, Any] | None]:
            # No history: one sample per interval while RUNNING, only keep-alives before (hardware not ready).
            sent = [0]
            next_keepalive = time.monotonic() + fake.keepalive
            while True:
                with fake._cond:
                    if job.stage in TERMINAL or fake._stopping or self._client_gone():
                        return
                    running = job.stage == "RUNNING"
                    fake._cond.wait(fake.metrics_interval if running else 0.05)
                if running and job.metrics:
                    yield job.metrics[sent[0] % len(job.metrics)]
                    sent[0] += 1
                elif running:
                    yield {"cpu_usage_pct": 50, "cpu_millicores": 2000, "memory_used_bytes": 1 << 30,
                           "memory_total_bytes": 16 << 30, "rx_bps": 0, "tx_bps": 0, "gpus": {}, "replica": "fake1"}
                elif time.monotonic() >= next_keepalive:
                    next_keepalive = time.monotonic() + fake.keepalive
                    yield None

        self._sse(samples(), lambda sample: "event: metric\ndata: " + json.dumps(sample, separators=(",", ":")))

    # --- scheduled jobs ---

    def _scheduled_api(self, item: dict[str, Any]) -> dict[str, Any]:
        fake = self.owner
        spec = dict(item["jobSpec"])
        spec["secrets"] = {name: "********" for name in spec.get("secrets") or {}}
        last = item.get("last")
        return {"id": item["id"], "createdAt": item["createdAt"], "jobSpec": spec, "schedule": item["schedule"],
                "suspend": item["suspend"], "concurrency": item["concurrency"],
                "status": {"lastJob": {"id": last, "at": item["createdAt"]} if last else None,
                           "nextJobRunAt": None if item["suspend"] else _iso(_now().replace(microsecond=0))},
                "owner": {"id": fake.user_id, "name": item["namespace"],
                          "type": "user" if item["namespace"] == fake.user else "org"}}

    def _scheduled(self, method: str, path: str, query: str, raw: bytes) -> None:
        fake = self.owner
        match = re.fullmatch(r"/api/scheduled-jobs/([^/]+)(?:/([^/]+)(?:/(suspend|resume|run|schedule))?)?", path)
        if not match:
            return self._json(404, {"error": "Not found"})
        namespace, sched_id, action = match.groups()
        if not self._authorized() or not self._can_use(namespace):
            return None
        if sched_id is None and method == "POST":
            body = json.loads(raw or b"{}")
            problem = _check_spec(body.get("jobSpec") or {})
            if not problem and not body.get("schedule"):
                problem = "schedule is required"
            if problem:
                return self._json(400, {"error": problem})
            item = {"id": _secrets.token_hex(12), "namespace": namespace, "createdAt": _iso(_now()),
                    "jobSpec": body["jobSpec"], "schedule": body["schedule"], "suspend": bool(body.get("suspend")),
                    "concurrency": bool(body.get("concurrency")), "last": None}
            with fake._cond:
                fake.scheduled[item["id"]] = item
            return self._json(200, self._scheduled_api(item))
        if sched_id is None:
            wanted = [tuple(v.split("=", 1)) for k, v in parse_qsl(query) if k == "label" and "=" in v]
            items = [i for i in fake.scheduled.values() if i["namespace"] == namespace
                     and all((i["jobSpec"].get("labels") or {}).get(k) == v for k, v in wanted)]
            return self._json(200, [self._scheduled_api(i) for i in items])
        item = fake.scheduled.get(sched_id)
        if item is None or item["namespace"] != namespace:
            return self._json(404, {"error": "Scheduled job not found"})
        if action is None and method == "GET":
            return self._json(200, self._scheduled_api(item))
        if action is None and method == "DELETE":
            with fake._cond:
                del fake.scheduled[sched_id]
            return self._json(200, {})
        if action in ("suspend", "resume") and method == "POST":
            item["suspend"] = action == "suspend"
            return self._json(200, {})
        if action == "schedule" and method == "POST":
            item["schedule"] = json.loads(raw or b"{}").get("schedule") or item["schedule"]
            return self._json(200, self._scheduled_api(item))
        if action == "run" and method == "POST":
            last = fake.jobs.get(item["last"] or "")
            if last is not None and last.stage not in TERMINAL and not item["concurrency"]:
                return self._json(409, {"error": "A run of this scheduled job is still running"})
            job = fake._create(namespace, dict(item["jobSpec"]))
            item["last"] = job.id
            return self._json(200, job.to_api(fake.user_id))
        return self._json(405, {"error": "Method not allowed"})

    # --- repos (create, info, upload) ---

    def _repos(self, method: str, path: str, raw: bytes) -> None:
        fake = self.owner
        if not self._authorized():
            return None
        if path == "/api/repos/create" and method == "POST":
            body = json.loads(raw or b"{}")
            namespace = body.get("organization") or fake.user
            if namespace not in (fake.user, *fake.orgs, *fake.read_orgs):
                return self._json(404, {"error": f"Namespace {namespace} not found"})
            if namespace not in (fake.user, *fake.orgs):
                return self._json(403, {"error": f"You don't have the rights to create a repo under {namespace}"})
            repo_id = f"{namespace}/{body['name']}"
            repo_type = body.get("type") or "model"
            with fake._cond:
                if repo_id in fake.repos:
                    return self._json(409, {"error": "You already created this repo", "url": ""})
                # huggingface_hub 2.x sends `visibility`; older clients (and TRL's pins) send `private`.
                private = body.get("visibility") == "private" or body.get("private") is True
                fake.repos[repo_id] = {"type": repo_type, "private": private, "files": {}, "commits": 0}
            prefix = "" if repo_type == "model" else f"{repo_type}s/"
            return self._json(200, {"url": f"{fake.url}/{prefix}{repo_id}"})
        match = re.fullmatch(r"/api/(models|datasets)/([^/]+/[^/]+)(?:/(preupload|commit)/([^/]+))?", path)
        if not match:
            return self._json(404, {"error": "Not found"})
        kind, repo_id, action, _revision = match.groups()
        repo = fake.repos.get(repo_id)
        if repo is None or f"{repo['type']}s" != kind:
            return self._json(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
        if action is None and method == "GET":
            return self._json(200, {"id": repo_id, "private": repo["private"], "sha": f"{repo['commits']:040x}",
                                    "siblings": [{"rfilename": name} for name in sorted(repo["files"])]})
        if action == "preupload" and method == "POST":
            files = json.loads(raw or b"{}").get("files", [])
            return self._json(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                                               "oid": None} for f in files]})
        if action == "commit" and method == "POST":
            import base64

            with fake._cond:
                for line in raw.splitlines():
                    item = json.loads(line)
                    if item["key"] == "file":
                        repo["files"][item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                repo["commits"] += 1
            return self._json(200, {"commitUrl": f"{fake.url}/{repo_id}/commit/{repo['commits']:040x}",
                                    "commitOid": f"{repo['commits']:040x}"})
        return self._json(405, {"error": "Method not allowed"})

    # --- writing ---

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _sse(self, items: Iterator[Any], render: Any) -> None:
        fake = self.owner
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        with fake._cond:
            fake.open_streams += 1
        try:
            for item in items:
                text = ": keep-alive\n\n" if item is None else render(item) + "\n\n"
                self._chunk(text.encode())
            self._chunk(b"")
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True  # the client went away: normal for a bounded read
        finally:
            with fake._cond:
                fake.open_streams -= 1
                fake._cond.notify_all()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def _check_spec(spec: dict[str, Any]) -> str | None:
    """What the Hub refuses in a job spec, as its error text; None when the spec is acceptable."""
    if not spec.get("dockerImage") and not spec.get("spaceId"):
        return "dockerImage or spaceId is required"
    if not isinstance(spec.get("command"), list) or not spec["command"]:
        return "command must be a non-empty list of strings"
    flavor = spec.get("flavor", "cpu-basic")
    if flavor not in {hardware.value for hardware in JobHardware}:
        return f"Invalid flavor {flavor!r}"
    for key, value in (spec.get("labels") or {}).items():
        if not key or not _LABEL_RE.match(key) or not _LABEL_RE.match(str(value)):
            return (f"Invalid label {key}={value}: keys and values must be at most 100 characters, "
                    "alphanumeric, dashes and underscores")
    for name in (spec.get("environment") or {}) | (spec.get("secrets") or {}):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            return f"Invalid environment variable name {name!r}"
    return None
