"""Ray: jobs on the user's own cluster, through the Job Submission REST API (see client.py; ray is not imported).

A job's id is its Ray submission id, chosen here so that a launch whose answer is lost can be looked up rather than
sent twice. Every job runs `<the node's Python> -m trl_jobs_ray ... -- <command>` (wrapper.py, shipped as a GCS
package; the Python is found on the node, see shipped.NODE_PYTHON): Ray has no run-time limit, no secret store, and
its stop does not reach a job still waiting for resources, so the wrapper enforces the timeout and the idle guard,
takes the secrets from a one-time GCS key, checks a cancel marker before running anything, samples the job's
processes beside its log, and stops the whole process tree (detached children included) at the end.

Logs and samples are read through the state API from the job's node (logs.py), a tail in what it returns. The
record (records.py) keeps the spec of each launch, for reruns. A training run with `workers` above 1 runs as a Ray
Train job (train.py) across the nodes, the driver holding no resources and each worker a flavor's worth.

What tools and recipes must know of it is in `traits`: nothing is billed (the cluster is the user's), what a job
writes stays on its node, training runs the entry module shipped with each job, with paths taken as the nodes'
own, and a run may span nodes (multi_node).
"""

from __future__ import annotations

import contextlib
import json
import secrets as secrets_module
import shlex
import time
from pathlib import Path
from typing import Any

import anyio

from ..base import BackendTraits, NoHubExtras
from . import resources
from .client import DEFAULT_ADDRESS, RayClient
from .leftovers import SECRETS_PREFIX, forget_secrets
from .command_line import ray_command_line
from .logs import LogReader, read_file
from .paging import cursor_after, matches, order, parse_cursor
from .records import Record, Records, rerun_record
from .shipped import ENTRY_MODULE, NODE_PYTHON, package, train_command, wrapper_argv
from .names import caller_token as _caller_token, cancel_key as _cancel_key
from .wrapper import system_file
from .status import (
    META, META_COMMAND, META_FLAVOR, META_IDLE, META_OUTPUT, META_TIMEOUT, job_info, labels_of, lost_info)
from ...analysis.metrics.system import SystemMetrics, from_supervisor
from ...core.flavors import Flavor, all_flavors, get_flavor
from ...core.models import (
    REDACTED, BackendUnavailable, InvalidJobSpec, JobInfo, JobNotFoundError, JobPage, JobsError, JobSpec,
    JobStage, LogChunk, RunRecord)
from ...core.redact import Redactor, ambient_secrets, scrub

class RayBackend(NoHubExtras):
    """Runs jobs on a Ray cluster.

    Args:
        address: the cluster's dashboard URL; default http://127.0.0.1:8265 (the server passes
            TRL_JOBS_RAY_ADDRESS from its Settings).
        token: the cluster's auth token (RAY_AUTH_MODE=token; the server passes TRL_JOBS_RAY_TOKEN).
        home: the state directory for the record of submitted jobs; default the platform's user data dir (the
            server passes TRL_JOBS_HOME).
        cluster_env: True when the cluster's Python already has what a training job needs (TRL and its friends):
            the job then runs in it as it is. False (the default) has Ray install the recipe's pinned packages in
            the job's runtime environment (pip).
        grace: seconds between SIGTERM and SIGKILL when a job is stopped; under Ray's own 3 s, after which Ray
            kills what is left.
        python: the Python that runs the wrapper on a node; default the one the node's Ray runs (see NODE_PYTHON),
            whatever PATH its head was started with.
        max_log_lines: the most lines one forward (`since`) read of the logs returns.
        request_timeout: seconds to wait for the dashboard.

    Example:
        >>> backend = RayBackend(address="http://127.0.0.1:8265")
        >>> await backend.start()
        >>> info = await backend.submit(JobSpec(command=["python", "-c", "print(1)"], flavor="cpu-basic"))
    """

    name = "ray"

    def __init__(self, *, address: str | None = None, token: str | None = None, home: Path | str | None = None,
                 cluster_env: bool = False, grace: float = 2.0, python: str | None = None, max_log_lines: int = 1000,
                 request_timeout: float = 30.0) -> None:
        # The server's Settings read the environment and pass what it says here: read once, there.
        self._client = RayClient(address=address or DEFAULT_ADDRESS, token=token or None, timeout=request_timeout)
        self.address = self._client.address
        # Not billed: the cluster is the user's, and Hugging Face's prices are a comparison, not a charge. A job's
        # files stay on its node. A local path reaches the job only where the nodes see it (a head on this machine,
        # a shared filesystem): the user's to arrange, as on any cluster.
        self.traits = BackendTraits(place=f"the Ray cluster at {self.address}", runs_here=False, billed=False,
                                    keeps_files=True, poll_seconds=2.0,
                                    entry_command=("python", "-P", "-m", ENTRY_MODULE), local_paths=True,
                                    multi_node=True,
                                    # Ours are trl-<12 hex>; others' submissions keep Ray's own spelling.
                                    job_id_shape=r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}", job_id_example="trl-1a2b3c4d5e6f")
        if home is None:
            import platformdirs

            home = platformdirs.user_data_dir("trl-jobs-mcp")
        self.home = Path(home).expanduser().absolute()
        self.cluster_env = cluster_env
        self.grace = grace
        self.python = python
        self._max_log_lines = max_log_lines
        self._token = token or None
        self._records: Records | None = None
        self._nodes: list[dict[str, Any]] | None = None  # the last resources read from the cluster
        # Secret values of jobs submitted from this process (memory only) and the credentials around us: scrubbed
        # from everything returned. The wrapper has already scrubbed a job's own secrets from its log on the node.
        self._secret_values: set[str] = set(ambient_secrets())
        self._emptied: set[str] = set()  # secrets packages emptied by this server (leftovers.py)
        self._built: tuple[tuple[str | None, int], Redactor] | None = None

    # --- lifecycle ---

    async def start(self) -> None:
        """Open the record of submitted jobs. The cluster is not contacted: a server starts while the head is down."""
        if self._records is None:
            self._records = Records.open(self.home / "ray" / "jobs.sqlite", address=self.address)

    async def aclose(self) -> None:
        await self._client.aclose()
        if self._records is not None:
            self._records.close()
            self._records = None

    # --- what differs from other backends ---

    def command_line(self, spec: JobSpec, *, schedule: str | None = None) -> list[str] | None:
        """The `ray job submit` line that runs `spec`'s command by hand (see ray_command_line), secrets by name."""
        if spec.workers > 1 and spec.command:
            train = train_command(spec.command, workers=spec.workers, flavor=get_flavor(spec.flavor))
            if train is not None:
                return ray_command_line(spec.model_copy(update={"command": train}), address=self.address,
                                        cluster_env=self.cluster_env, driver_only=True)
        return ray_command_line(spec, address=self.address, cluster_env=self.cluster_env)

    async def parameter_count(self, model: str) -> float | None:
        """None: this backend talks to the cluster, not to the Hub; callers read the local Hugging Face cache, then
        the model's name."""
        return None

    # --- the protocol ---

    async def check(self, spec: JobSpec) -> None:
        """What `submit` refuses before it creates anything (a dry run works while the head is down): an image, a
        reserved label key, `$HF_TOKEN` with no token here, a flavor the cluster cannot hold as last read (submit
        reads the cluster's resources again), and workers it cannot place (read now, when the head answers)."""
        flavor = self.check_flavor(spec.flavor)
        self._refuse(spec)
        if spec.workers > 1:  # a placement is worth a look at the cluster, when it answers
            with contextlib.suppress(BackendUnavailable):
                await self._read_nodes()
            self._train_command(spec, flavor, self._nodes)
        if spec.wants_token:
            spec.with_token(_caller_token())

    async def submit(self, spec: JobSpec) -> JobInfo:
        """Submit `spec` and return the job as the cluster holds it (SCHEDULING until resources are free).

        Raises:
            InvalidJobSpec: a flavor the cluster cannot hold, an image, a reserved label key; nothing is created.
            BackendUnavailable: the dashboard is unreachable or refused; the message says whether a job may exist.
        """
        flavor = await self._fit(spec.flavor)
        self._refuse(spec)
        launched = spec  # as asked, for a rerun: `$HF_TOKEN` stays a name, the entry module stays itself
        if spec.workers > 1:  # a Ray Train run: the driver holds nothing, each worker a flavor's worth
            spec = spec.model_copy(update={"command": self._train_command(spec, flavor, self._nodes)})
        if spec.wants_token:
            spec = spec.with_token(_caller_token())
        self._secret_values.update(spec.secrets.values())
        redactor = self._redactor()
        job_id = f"trl-{secrets_module.token_hex(6)}"
        command = spec.redacted_command()

        name, data = package()
        if not await self._client.has_package(name):
            await self._client.put_package(name, data)
        wrapper, argv = wrapper_argv(spec, job_id=job_id, grace=self.grace, gpu=flavor.gpu_count > 0,
                                     cancel=_cancel_key(job_id))
        shown = redactor.argv(argv)
        if spec.secrets:
            # Secrets never go in the runtime_env's env_vars, which the REST API returns in plain text to anyone
            # who asks, nor in the entrypoint: a command that holds a secret's value travels with them. They wait
            # in the GCS under a one-time key the wrapper deletes as it reads it.
            key = f"{SECRETS_PREFIX}{job_id}_{secrets_module.token_hex(16)}.json"
            payload = {"env": spec.secrets, "argv": argv if shown != argv else None}
            await self._client.put_package(key, json.dumps(payload).encode())
            wrapper += ["--secrets", f"gcs://{key}"]
        runtime_env: dict[str, Any] = {"py_modules": [f"gcs://{name}"],
                                       "env_vars": {**spec.env, "PYTHONUNBUFFERED": "1"}}
        if spec.dependencies and spec.command and not self.cluster_env:
            runtime_env["pip"] = list(spec.dependencies)
        metadata = {**redactor.mapping(spec.labels), META_FLAVOR: flavor.name, META_TIMEOUT: f"{spec.timeout:g}",
                    META_COMMAND: json.dumps(command)}
        if spec.output_dir:
            metadata[META_OUTPUT] = redactor.text(spec.output_dir)
        if spec.idle_timeout is not None:
            metadata[META_IDLE] = f"{spec.idle_timeout:g}"
        python = shlex.quote(self.python) if self.python else NODE_PYTHON
        body = {"entrypoint": f"{python} {shlex.join([*wrapper, '--', *shown])}", "submission_id": job_id,
                "runtime_env": runtime_env, "metadata": metadata,
                **(resources.request(flavor) if spec.workers == 1 else {})}

        records = self._recorded()
        records.add(Record(id=job_id, created=time.time(), flavor=flavor.name, labels=redactor.mapping(spec.labels),
                           command=command, timeout=spec.timeout, output_dir=metadata.get(META_OUTPUT),
                           spec=scrub(launched.model_dump(mode="json", exclude={"secrets"}), redactor),
                           secret_names=sorted(launched.secrets)))
        try:
            await self._client.submit(body)
        except JobsError as err:
            # The answer may be lost after the cluster took the job: look before saying nothing was created.
            try:
                found = await self._client.job(job_id)
            except JobsError:
                raise BackendUnavailable(redactor.text(
                    f"{err} The submission of job {job_id} may or may not have reached the cluster: call "
                    f"inspect_job with job_id={job_id!r} once it answers, before launching again.")) from err
            if found is None:
                records.remove(job_id)
                raise
        return await self.inspect(job_id)

    async def inspect(self, job_id: str) -> JobInfo:
        details, record = await self._lookup(job_id)
        if details is None:
            return lost_info(record, backend=self.name, address=self.address, redactor=self._redactor())
        await forget_secrets(self._client, [details], done=self._emptied)
        return self._info(details, record)

    async def _lookup(self, job_id: str) -> tuple[dict | None, Any]:
        """(what the cluster says of the job, our record of it); the cluster's is None for a job it forgot.
        JobNotFoundError when neither knows it."""
        job_id = self.traits.check_job_id(job_id)
        details = await self._client.job(job_id)
        record = self._recorded().get(job_id)
        if details is None and record is None:
            raise JobNotFoundError(job_id, f"No job {job_id!r} on the Ray cluster at {self.address}. Call "
                                           "list_jobs to see the jobs there.")
        return details, record

    async def list(self, *, stages: set[JobStage] | None = None, labels: dict[str, str] | None = None,
                   limit: int = 50, cursor: str | None = None) -> JobPage:
        """Jobs newest first: the cluster's, and those submitted from here that it forgot. `cursor` is opaque (the
        position after the last job of the previous page), so a job that ends or vanishes does not break paging."""
        if limit < 1:
            raise InvalidJobSpec(f"must be at least 1, got {limit}.", field="limit")
        after = parse_cursor(cursor)
        jobs = await self._client.jobs()
        await forget_secrets(self._client, jobs, done=self._emptied)
        records = self._recorded()
        known = records.get_many([str(job["submission_id"]) for job in jobs])
        redactor = self._redactor()
        infos = [self._info(job, known.get(str(job["submission_id"]))) for job in jobs
                 if not labels or matches(labels_of(job.get("metadata") or {}), labels)]
        seen = {info.id for info in infos}
        infos += [lost_info(record, backend=self.name, address=self.address, redactor=redactor)
                  for record in records.all()
                  if record.id not in seen and (not labels or matches(record.labels, labels))]
        if stages:
            infos = [info for info in infos if info.stage in stages]
        infos.sort(key=order, reverse=True)
        if after is not None:
            infos = [info for info in infos if order(info) < after]
        page = infos[:limit]
        more = len(infos) > limit
        return JobPage(jobs=page, next_cursor=cursor_after(page[-1]) if more else None)

    async def logs(self, job_id: str, *, tail: int | None = None, since: int | None = None) -> LogChunk:
        """Lines of the job's log from its node (see logs.py): a tail costs the lines it returns, a read forward
        from `since` the lines it skips and returns (at most `max_log_lines`); the whole log only page by page."""
        for name, value in (("tail", tail), ("since", since)):
            if value is not None and value < 0:
                raise InvalidJobSpec(f"must be 0 or more, got {value}.", field=name)
        details, record = await self._lookup(job_id)
        start = since or 0
        node = (details or {}).get("driver_node_id")
        if details is None:
            return LogChunk(lines=[], next_since=start, finished=True)  # forgotten by the cluster with its log
        info = self._info(details, record)  # read before the log: once terminal, nothing more is written
        if not node:  # not started: nothing written yet
            return LogChunk(lines=[], next_since=start, finished=info.finished)
        reader = LogReader(self._client, info.id, node, finished=info.finished, max_lines=self._max_log_lines)
        read = await reader.read(tail=tail, since=since)
        redactor = self._redactor()
        return LogChunk(lines=[redactor.text(line) for line in read.lines], next_since=read.next_since,
                        finished=info.finished and read.at_end, truncated=read.truncated)

    async def system_metrics(self, job_id: str) -> SystemMetrics:
        """What the job's supervisor sampled on its node (every 2 s while it ran), read through the state API."""
        details, _ = await self._lookup(job_id)
        node = (details or {}).get("driver_node_id")
        lines = await read_file(self._client, node_id=node, name=system_file(job_id)) if node else []
        metrics = from_supervisor(lines)
        if not metrics.samples:
            metrics.note = ("No system samples: the job has not started, ended before the first one, or the cluster "
                            "no longer holds it.")
        return metrics

    async def run_record(self, job_id: str) -> RunRecord:
        """The spec the job was launched from, as this server recorded it (Ray keeps only the entrypoint built from
        it); secrets by name only. A job launched elsewhere, or whose spec held a secret's value, is refused."""
        _, record = await self._lookup(job_id)
        return rerun_record(job_id, record)

    async def cancel(self, job_id: str) -> JobInfo:
        """Cancel the job: one that waits for resources is marked so that it never runs its command, one that runs
        is stopped with its whole process tree. A job that has ended is returned as it is."""
        info = await self.inspect(job_id)
        if info.finished:
            return info
        job_id = info.id
        records = self._recorded()
        if records.get(job_id) is None:  # a job submitted from elsewhere: remember that it was canceled here
            records.add(Record(id=job_id, created=time.time(), flavor=info.flavor, labels=info.labels,
                               command=info.command, timeout=info.timeout, output_dir=info.output_dir))
        # The marker first: a PENDING job that starts from now on finds it and runs nothing. Then Ray's stop, which
        # reaches a job that is already running (its wrapper stops the tree) and one that starts later. Recorded
        # last, so that a head that stops answering midway never leaves a running job reported CANCELED.
        await self._client.put_package(_cancel_key(job_id).removeprefix("gcs://"), b"canceled")
        await self._client.stop(job_id)
        records.mark_canceled(job_id)
        # Its wrapper may never run now (a PENDING job): its secrets must not wait in the GCS for it.
        await forget_secrets(self._client, [await self._client.job(job_id) or {}], done=self._emptied, ended=True)
        if info.stage is JobStage.RUNNING:
            with anyio.move_on_after(self.grace + 10):
                while True:
                    details = await self._client.job(job_id)
                    if details is None or details.get("status") in ("STOPPED", "SUCCEEDED", "FAILED"):
                        break
                    await anyio.sleep(0.2)
        return await self.inspect(job_id)

    async def hardware(self) -> list[Flavor]:
        """Every flavor, `runnable` when one alive node of the cluster holds its CPUs, GPUs and memory."""
        nodes = await self._read_nodes()
        return [flavor.model_copy(update={"runnable": resources.fits(flavor, nodes)}) for flavor in all_flavors()]

    def check_flavor(self, flavor: str) -> Flavor:
        """The flavor; refused when the cluster's resources, as last read, cannot hold it. Before any read the
        answer is runnable=None (unknown), and submit checks again against the cluster itself."""
        found = get_flavor(flavor)
        if self._nodes is None:
            return found
        resources.refuse_unless_fits(found, self._nodes, address=self.address)
        return found.model_copy(update={"runnable": True})

    # --- helpers ---

    def _refuse(self, spec: JobSpec) -> None:
        if spec.image:
            raise InvalidJobSpec("a Ray job runs in the cluster's own environment, not in a Docker image; remove "
                                 "`image` (use a cluster whose nodes run that image instead).", field="image")
        for key in spec.labels:
            if key.startswith(META):
                raise InvalidJobSpec(f"label key {key!r} starts with {META!r}, which this server keeps for itself. "
                                     "Use another key.", field="labels")

    async def _fit(self, flavor: str) -> Flavor:
        found = get_flavor(flavor)
        resources.refuse_unless_fits(found, await self._read_nodes(), address=self.address)
        return found.model_copy(update={"runnable": True})

    async def _read_nodes(self) -> list[dict[str, Any]]:
        self._nodes = await self._client.nodes()
        return self._nodes

    def _train_command(self, spec: JobSpec, flavor: Flavor, nodes: list[dict[str, Any]] | None) -> list[str]:
        """The Ray Train driver's command for `spec`'s workers; refused unless a training run (our entry module),
        or when the cluster (as last read; None: unknown) cannot place them all at once."""
        train = train_command(spec.command or [], workers=spec.workers, flavor=flavor)
        if train is None:
            raise InvalidJobSpec("workers above 1 spread a training run (launch_training) over the cluster; this "
                                 "command runs as one process: leave workers at 1.", field="workers")
        if nodes is not None:
            resources.refuse_unless_placed(flavor, spec.workers, nodes, address=self.address)
        return train

    def _info(self, details: dict[str, Any], record: Record | None) -> JobInfo:
        info = job_info(details, record, backend=self.name, address=self.address, redactor=self._redactor())
        if record is not None and record.last_stage != info.stage.value:
            self._recorded().seen(info.id, info.stage.value, info.message)
        return info

    def _recorded(self) -> Records:
        if self._records is None:
            raise BackendUnavailable("The Ray backend is not started: call start() first.")
        return self._records

    def _redactor(self) -> Redactor:
        # Rebuilt only when a value joins (the set only grows): building the automaton costs the values' length.
        key = (self._token, len(self._secret_values))
        if self._built is None or self._built[0] != key:
            self._built = (key, Redactor([self._token or "", *self._secret_values]))
        return self._built[1]

