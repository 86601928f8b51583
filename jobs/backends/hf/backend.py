"""Hugging Face Jobs: the managed GPU backend, through `huggingface_hub.HfApi` (no hand-written HTTP).

Every blocking call runs in a worker thread. What the Hub answers is mapped onto the engine's words: its stages are
ours already, 401/402/403/404 become errors a user can act on, 429 and 5xx on reads are retried with backoff.

Two behaviours need care beyond a plain wrapper:

- A launch whose answer is lost (the connection drops after the Hub created the job, or a 5xx) must not run
  twice. Each launch carries a unique label, `trl-jobs-launch=<uuid>`; before any retry the label is looked up,
  and a job found under it is the answer.
- Logs are a server-sent event stream that replays the whole history and stays open until the job ends. A read
  here is bounded: a daemon thread consumes `fetch_job_logs(follow=False)` and the call returns at its deadline
  (or once the stream has been quiet for a moment) with what arrived. The thread then stops at its next event or
  at the client's own 5 s read timeout; it never outlives the stream.
"""

from __future__ import annotations

import functools
import math
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import quote

import anyio
from huggingface_hub import HfApi, constants, get_token

from ..base import BackendTraits
from .command_line import (_LABEL_BAD_CHARS, LABEL_MAX, LAUNCH_LABEL, hf_command_line,
                                                         label_value)
from .errors import NO_TOKEN, describe, retryable, translate
from .extras import HubExtras
from .logs import LogReader
from .mapping import hub_flavors, hub_labels, job_info, launch_call, offered_flavor, refuse_shipped_credentials
from .metrics import SystemMetrics, not_running, read_metrics
from ...core.flavors import Flavor, all_flavors
from ...core.models import (BackendUnavailable, InvalidJobSpec, JobInfo, JobPage, JobsError, JobSpec,
                                      JobStage, LogChunk)
from ...core.redact import Redactor, ambient_secrets

T = TypeVar("T")
LIVE_PRICES_TTL = 600.0


class HFBackend(HubExtras):
    """Runs jobs on Hugging Face Jobs.

    Args:
        token: the Hugging Face token; default HF_TOKEN, else the one saved by `hf auth login`.
        namespace: user or organisation the jobs run under; default the token's user.
        endpoint: the Hub's URL; default HF_ENDPOINT or https://huggingface.co.
        retry_delays: seconds to wait before each retry of a read that met 429, 5xx or a dropped connection; one
            retry per entry. Launches are retried on the same schedule, each after a look-up of the launch label.
        logs_deadline: the most seconds one `logs` call spends reading the stream.
        logs_idle: a `logs` call returns once the stream has been quiet this long after a line (the history
            replays at once).
        logs_first_wait: how long a `logs` call waits for the first line (connecting takes longer than a gap
            between lines); a job that has written nothing yet is answered after this.
        max_log_lines: the most lines one `logs` call returns when reading forward (`since`); `truncated` then says
            there is more.
        metrics_seconds, metrics_samples: system_metrics listens to the Hub's 1/s stream this long, for this many.
        request_timeout: the most seconds one call waits for the Hub (huggingface_hub's client itself never times
            out). A read that runs out of time is retried; a launch is looked up by its label and not retried.

    Example:
        >>> backend = HFBackend(namespace="my-org")
        >>> info = await backend.submit(JobSpec(command=["python", "-c", "print(1)"], flavor="cpu-basic"))
    """

    name = "hf"
    traits = BackendTraits(place="Hugging Face Jobs", runs_here=False, billed=True, keeps_files=False,
                           poll_seconds=5.0, label_forbidden=_LABEL_BAD_CHARS.pattern, label_max=LABEL_MAX,
                           # Hub extras (issue 15): HubExtras implements them.
                           supports_schedules=True, uploads_local_inputs=True, native_rerun=True,
                           job_id_shape=r"(?:\w[\w.-]*/)?[0-9A-Za-z]+", job_id_example="6745a2b1c3d4e5f60718293a")

    def __init__(self, *, token: str | None = None, namespace: str | None = None, endpoint: str | None = None,
                 retry_delays: Iterable[float] = (1.0, 2.0, 4.0), logs_deadline: float = 5.0,
                 logs_idle: float = 1.5, logs_first_wait: float = 3.0, max_log_lines: int = 1000,
                 request_timeout: float = 60.0, metrics_seconds: float = 5.0, metrics_samples: int = 5) -> None:
        self.endpoint = (endpoint or constants.ENDPOINT).rstrip("/")
        self._token = token or None
        self._token_resolved = bool(token)
        self._namespace = namespace or None
        self._retry_delays = tuple(retry_delays)
        self._logs_deadline = logs_deadline
        self._logs_idle = logs_idle
        self._logs_first_wait, self._max_log_lines = logs_first_wait, max_log_lines
        self._request_timeout = request_timeout
        self._metrics_seconds, self._metrics_samples = metrics_seconds, metrics_samples
        # Secret values of the jobs launched from this process, scrubbed from everything we return. They live in
        # memory only: after a restart, a job launched earlier is scrubbed of the token, of this machine's saved
        # tokens and of anything shaped like a Hugging Face token, but not of its other secrets (the Hub never
        # sends their values back), should its log or command print them.
        self._secret_values: set[str] = set(ambient_secrets())
        self._built: tuple[tuple[str | None, int], Redactor] | None = None
        self._live_flavors: dict[str, Flavor] = {}
        self._live_at = -math.inf
        self._readers: set[LogReader] = set()
        self._api = HfApi(endpoint=self.endpoint, token=token or None, library_name="trl-jobs-mcp")

    # --- lifecycle ---

    async def start(self) -> None:
        """Nothing to open: the token and namespace are checked on first use, so a server starts offline too."""

    async def aclose(self) -> None:
        for reader in list(self._readers):
            reader.stop()

    # --- the protocol ---

    async def check(self, spec: JobSpec) -> None:
        """What `submit` refuses without asking the Hub (flavor, label keys); the token is asked for at launch, so
        that a dry run works before one is set up."""
        self.check_flavor(spec.flavor)
        hub_labels(spec.labels)
        refuse_shipped_credentials(spec)

    async def submit(self, spec: JobSpec) -> JobInfo:
        """Launch `spec` (a uv script or a command in an image) and return the job as the Hub created it.

        Raises:
            InvalidJobSpec: unknown flavor, a label key the Hub refuses, a missing local script, or a spec the Hub
                answered 400 to. Nothing is created.
            BackendUnavailable: no token, no plan, or the Hub unreachable after the retries; the message says
                whether a job may exist.
        """
        self.check_flavor(spec.flavor)
        token = await self._need_token()
        namespace = await self._ns()
        resolved = spec.with_token(token)
        env, secrets = resolved.env, resolved.secrets
        self._secret_values.update(secrets.values())
        launch_id = uuid.uuid4().hex
        # Labels are stored by the Hub and shown on the job's page: a secret's value never goes there.
        labels = {**hub_labels(spec.labels, Redactor([token, *secrets.values()])), LAUNCH_LABEL: launch_id}
        common: dict[str, Any] = dict(env=env, secrets=secrets, flavor=spec.flavor, timeout=math.ceil(spec.timeout),
                                      labels=labels, namespace=namespace, token=token)
        launch = launch_call(self._api, spec, self.check_flavor(spec.flavor), common)

        errors: list[BaseException] = []
        for attempt in range(len(self._retry_delays) + 1):
            if attempt:
                await anyio.sleep(self._retry_delays[attempt - 1])
            timed_out = False
            try:
                job = await self._in_thread(launch)
                return self._info(job, spec=spec)
            except Exception as err:
                timed_out = isinstance(err, TimeoutError)
                if not (timed_out or retryable(err)):
                    raise self._translate(err, what="launch the job", namespace=namespace) from err
                errors.append(err)
            # The answer was lost: the job may exist. Look before launching again, never after.
            try:
                found = await self._find_launch(launch_id, namespace)
            except JobsError as err:
                raise BackendUnavailable(self._scrub(
                    f"The launch may or may not have reached Hugging Face ({describe(errors[-1])}), and looking it "
                    f"up failed too ({err}). Before launching again, call list_jobs with labels "
                    f"{{'{LAUNCH_LABEL}': '{launch_id}'}} to see whether it exists.")) from err
            if found is not None:
                return self._info(found, spec=spec)
            if timed_out:
                # The request may still be on its way: launching again could run the job twice.
                raise BackendUnavailable(
                    f"Hugging Face did not answer the launch within {self._request_timeout:g} s, and no job carries "
                    f"its label yet. It may still appear: call list_jobs with labels {{'{LAUNCH_LABEL}': "
                    f"'{launch_id}'}} in a minute before launching again.")
        raise BackendUnavailable(self._scrub(
            f"Hugging Face Jobs did not accept the launch after {len(errors)} tries ({describe(errors[-1])}); no job "
            f"was created (none carries label {LAUNCH_LABEL}={launch_id}). Try again in a minute."))

    async def list(self, *, stages: set[JobStage] | None = None, labels: dict[str, str] | None = None,
                   limit: int = 50, cursor: str | None = None) -> JobPage:
        """Jobs of the namespace, newest first, as the Hub orders them. `cursor` is the id of the last job of the
        previous page. The client already retries 429/5xx on each page (huggingface_hub's http_backoff)."""
        if limit < 1:
            raise InvalidJobSpec(f"must be at least 1, got {limit}.", field="limit")
        token = await self._need_token()
        namespace = await self._ns()
        status = sorted(stage.value for stage in stages) if stages else None
        wanted = {key: label_value(value) for key, value in labels.items()} if labels else None

        def page() -> tuple[list[Any], bool]:
            jobs: list[Any] = []
            skipping = cursor is not None
            for job in self._api.list_jobs(status=status, labels=wanted, namespace=namespace, token=token):
                if skipping:
                    skipping = job.id != cursor
                    continue
                jobs.append(job)
                if len(jobs) > limit:
                    break
            return jobs, skipping

        jobs, cursor_missing = await self._call(page, what="list jobs", namespace=namespace, retry=False)
        if cursor_missing:
            raise InvalidJobSpec(f"{cursor!r} is no longer in the list (the job was deleted or changed stage). Call "
                                 f"list_jobs without a cursor to start again.", field="cursor")
        infos = [self._info(job) for job in jobs[:limit]]
        return JobPage(jobs=infos, next_cursor=jobs[limit - 1].id if len(jobs) > limit else None)

    async def inspect(self, job_id: str) -> JobInfo:
        namespace, plain = await self._ref(job_id)
        token = await self._need_token()
        job = await self._call(functools.partial(self._api.inspect_job, job_id=plain, namespace=namespace,
                                                 token=token),
                               what=f"inspect job {plain}", namespace=namespace, job_id=job_id)
        return self._info(job)

    async def logs(self, job_id: str, *, tail: int | None = None, since: int | None = None) -> LogChunk:
        """A bounded read of the job's log: returns within `logs_deadline` seconds, whatever the job is doing.

        `since` is the number of lines already seen (the stream replays from the start); `next_since` counts the
        lines seen so far. `finished` is true once the job had ended before the read and all of its log came back.
        """
        for name, value in (("tail", tail), ("since", since)):
            if value is not None and value < 0:
                raise InvalidJobSpec(f"must be 0 or more, got {value}.", field=name)
        before = await self.inspect(job_id)  # unknown job -> JobNotFoundError, before opening a stream
        namespace, plain = await self._ref(job_id)
        token = await self._need_token()
        attempt = 0
        while True:
            reader = LogReader(self._api, job_id=plain, namespace=namespace, token=token)
            self._readers.add(reader)
            try:
                deadline = time.monotonic() + self._logs_deadline
                await anyio.to_thread.run_sync(reader.wait, deadline, self._logs_idle, self._logs_first_wait,
                                               abandon_on_cancel=True)
            finally:
                reader.stop()
                self._readers.discard(reader)
            lines, ended, error = reader.snapshot()
            if error is None or lines:
                break
            if retryable(error) and attempt < len(self._retry_delays):
                await anyio.sleep(self._retry_delays[attempt])
                attempt += 1
                continue
            raise self._translate(error, what=f"read the logs of job {plain}", namespace=namespace, job_id=job_id)

        total = len(lines)
        start = min(since or 0, total)
        if tail is not None:
            first = max(start, total - tail)
            chosen, next_since = lines[first:], total
            truncated = first > start
        else:
            chosen = lines[start:start + self._max_log_lines]
            next_since = start + len(chosen)
            truncated = next_since < total
        redactor = self._redactor()
        return LogChunk(
            lines=[redactor.text(line) for line in chosen],
            next_since=max(next_since, since or 0),
            finished=before.finished and ended and error is None and not truncated,
            truncated=truncated,
        )

    async def cancel(self, job_id: str) -> JobInfo:
        """Cancel the job. A job that has already ended is returned as it is: nothing changes."""
        info = await self.inspect(job_id)
        if info.finished:
            return info
        namespace, plain = await self._ref(job_id)
        token = await self._need_token()
        await self._call(functools.partial(self._api.cancel_job, job_id=plain, namespace=namespace, token=token),
                         what=f"cancel job {plain}", namespace=namespace, job_id=job_id)
        return await self.inspect(job_id)

    async def system_metrics(self, job_id: str) -> SystemMetrics:
        """What Hugging Face streams while the job runs (no history), listened to for up to `metrics_seconds`."""
        if (stage := (await self.inspect(job_id)).stage) != JobStage.RUNNING:
            return not_running(stage)
        namespace, plain = await self._ref(job_id)
        metrics, error = await anyio.to_thread.run_sync(functools.partial(
            read_metrics, self._api, job_id=plain, namespace=namespace, token=await self._need_token(),
            seconds=self._metrics_seconds, enough=self._metrics_samples), abandon_on_cancel=True)
        if metrics is None:
            assert error is not None  # read_metrics returns one or the other
            raise self._translate(error, what=f"read the metrics of job {plain}", namespace=namespace, job_id=job_id)
        return metrics

    async def hardware(self) -> list[Flavor]:
        """Live flavors and prices from the Hub (all runnable), or the built-in catalog when the Hub cannot say.
        A live answer is kept for LIVE_PRICES_TTL seconds: every launch prices itself through here."""
        if self._live_flavors and time.monotonic() - self._live_at < LIVE_PRICES_TTL:
            return [flavor.model_copy() for flavor in self._live_flavors.values()]
        try:
            token = await self._need_token()
            flavors = hub_flavors(await self._call(functools.partial(self._api.list_jobs_hardware, token=token),
                                                   what="list the Jobs hardware"))
        except JobsError:
            flavors = []
        if not flavors:
            return [flavor.model_copy(update={"runnable": True}) for flavor in all_flavors()]
        self._live_flavors = {flavor.name: flavor for flavor in flavors}
        self._live_at = time.monotonic()
        return flavors

    def check_flavor(self, flavor: str) -> Flavor:
        """A flavor the Hub offers: once the live hardware list has been read (list_hardware), one it names;
        before that, any of the catalog's."""
        return offered_flavor(flavor, self._live_flavors)

    # --- what differs from other backends ---

    def command_line(self, spec: JobSpec, *, schedule: str | None = None) -> list[str] | None:
        """The `hf jobs (scheduled) (uv) run ...` line that launches (or schedules) `spec` by hand, secrets by name."""
        return hf_command_line(spec, schedule=schedule)

    async def parameter_count(self, model: str) -> float | None:
        """The safetensors parameter total the Hub reports for `model`, asked with this backend's token and
        endpoint; None when it lists none. Errors are not translated: the caller only notes that it failed."""
        info = await self._in_thread(functools.partial(self._api.model_info, model, expand=["safetensors"]))
        total = getattr(info.safetensors, "total", None) if info.safetensors else None
        return float(total) if total else None

    # --- token, namespace, references ---

    async def _need_token(self) -> str:
        if not self._token_resolved:
            # get_token may refresh an OAuth token over the network: not on the event loop.
            self._token = await anyio.to_thread.run_sync(get_token)
            self._token_resolved = True
            if self._token:
                self._api = HfApi(endpoint=self.endpoint, token=self._token, library_name="trl-jobs-mcp")
        if not self._token:
            raise BackendUnavailable(f"No Hugging Face token: {NO_TOKEN}")
        return self._token

    async def _ns(self) -> str:
        if self._namespace is None:
            token = await self._need_token()
            me = await self._call(functools.partial(self._api.whoami, token=token), what="check the token")
            self._namespace = str(me["name"])
        return self._namespace

    async def _ref(self, job_id: str) -> tuple[str, str]:
        """'namespace/id' or a bare id (in the default namespace) -> (namespace, id), both quoted: huggingface_hub
        puts them in a URL's path, where no character may change the request."""
        namespace, _, plain = self.traits.check_job_id(job_id).rpartition("/")
        return quote(namespace or await self._ns(), safe=""), quote(plain, safe="")

    # --- calls and errors ---

    async def _call(self, fn: Callable[[], T], *, what: str, namespace: str | None = None,
                    job_id: str | None = None, retry: bool = True) -> T:
        """Run a blocking read in a thread; retry 429, 5xx and dropped connections; translate the rest."""
        attempt = 0
        while True:
            try:
                return await self._in_thread(fn)
            except Exception as err:
                if retry and retryable(err) and attempt < len(self._retry_delays):
                    await anyio.sleep(self._retry_delays[attempt])
                    attempt += 1
                    continue
                raise self._translate(err, what=what, namespace=namespace, job_id=job_id,
                                      tries=attempt + 1) from err

    async def _in_thread(self, fn: Callable[[], T]) -> T:
        """`fn` in a worker thread, given up after `request_timeout` (TimeoutError). A thread given up on is left to
        finish on its own: a blocking socket read cannot be interrupted from outside."""
        with anyio.fail_after(self._request_timeout):
            return await anyio.to_thread.run_sync(fn, abandon_on_cancel=True)

    def _translate(self, err: BaseException, *, what: str, namespace: str | None = None,
                   job_id: str | None = None, tries: int = 1) -> BaseException:
        return translate(err, what=what, scrub=self._scrub, endpoint=self.endpoint,
                         request_timeout=self._request_timeout, namespace=namespace, job_id=job_id, tries=tries)

    def _info(self, job: Any, *, spec: JobSpec | None = None) -> JobInfo:
        return job_info(job, backend=self.name, namespace=self._namespace, redactor=self._redactor(), spec=spec)

    def _redactor(self) -> Redactor:
        key = (self._token, len(self._secret_values))  # the set only grows: rebuilt when a value joins, not per use
        if self._built is None or self._built[0] != key:
            self._built = (key, Redactor([self._token or "", *self._secret_values]))
        return self._built[1]

    def _scrub(self, text: str) -> str:
        return self._redactor().text(text)

    # --- launching ---

    async def _find_launch(self, launch_id: str, namespace: str) -> Any | None:
        token = await self._need_token()

        def lookup() -> Any | None:
            jobs = self._api.list_jobs(labels={LAUNCH_LABEL: launch_id}, namespace=namespace, token=token)
            return next(iter(jobs), None)

        # The client already retries each page (http_backoff); a second layer would only multiply the wait.
        return await self._call(lookup, what="look up the launch", namespace=namespace, retry=False)
