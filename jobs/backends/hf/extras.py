"""What Hugging Face Jobs has beyond run/list/inspect/logs/cancel: scheduled jobs, the Hub's own rerun, and
uploading local inputs to private repos. A mixin of HFBackend (backend.py holds the plumbing it calls).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import anyio

from . import uploads as hub_uploads
from .command_line import DEFAULT_IMAGE, LAUNCH_LABEL
from .mapping import hub_labels, refuse_shipped_credentials
from ...core.models import JobInfo, JobNotFoundError, JobsError, JobSpec, RunRecord
from ...core.redact import Redactor
from ...extras.schedules import ScheduledJob, check_schedule
from ...extras.uploads import LocalUpload

# The plumbing this mixin calls (_api, _call, _need_token, ...) is HFBackend's, in backend.py. Typing the base as
# HFBackend would make HFBackend derive from itself, so a checker sees an open base here.
_Base: Any = object


class HubExtras(_Base):
    """Scheduled jobs, the Hub's rerun and uploads of local inputs; HFBackend.traits declares them."""

    # --- scheduled jobs ---

    async def schedule(self, spec: JobSpec, *, schedule: str) -> ScheduledJob:
        """Create a scheduled job that runs `spec` on `schedule` (not now: trigger it for a run now)."""
        schedule = check_schedule(schedule)
        self.check_flavor(spec.flavor)
        refuse_shipped_credentials(spec)
        token = await self._need_token()
        namespace = await self._ns()
        resolved = spec.with_token(token)
        self._secret_values.update(resolved.secrets.values())
        labels = hub_labels(spec.labels, Redactor([token, *resolved.secrets.values()]))
        common: dict[str, Any] = dict(schedule=schedule, env=resolved.env, secrets=resolved.secrets,
                                      flavor=spec.flavor, timeout=math.ceil(spec.timeout), labels=labels or None,
                                      namespace=namespace, token=token)
        if spec.script:
            run_uv = getattr(type(self._api).create_scheduled_uv_job, "__wrapped__",
                             type(self._api).create_scheduled_uv_job)  # experimental: warns on every call
            create = functools.partial(run_uv, self._api, spec.script, script_args=list(spec.script_args),
                                       dependencies=list(spec.dependencies) or None, python=spec.python, **common)
        else:
            create = functools.partial(self._api.create_scheduled_job, image=spec.image or DEFAULT_IMAGE,
                                       command=list(spec.command or []), **common)
        # Not retried: a lost answer could leave two schedules, each billing every run.
        created = await self._call(create, what="create the scheduled job", namespace=namespace, retry=False)
        return self._scheduled(created, timeout=spec.timeout)

    async def list_scheduled(self, *, labels: dict[str, str] | None = None) -> list[ScheduledJob]:
        token = await self._need_token()
        namespace = await self._ns()
        found = await self._call(functools.partial(self._api.list_scheduled_jobs, labels=labels or None,
                                                   namespace=namespace, token=token),
                                 what="list the scheduled jobs", namespace=namespace)
        return [self._scheduled(item) for item in found]

    async def inspect_scheduled(self, scheduled_id: str) -> ScheduledJob:
        namespace, plain = await self._ref(scheduled_id)
        token = await self._need_token()
        found = await self._sched_call(functools.partial(self._api.inspect_scheduled_job, scheduled_job_id=plain,
                                                         namespace=namespace, token=token),
                                       what=f"inspect scheduled job {plain}", namespace=namespace, ref=scheduled_id)
        return self._scheduled(found)

    async def change_scheduled(self, scheduled_id: str, *, action: str) -> ScheduledJob | None:
        """suspend, resume or delete; the scheduled job after (None once deleted)."""
        namespace, plain = await self._ref(scheduled_id)
        token = await self._need_token()
        call = {"suspend": self._api.suspend_scheduled_job, "resume": self._api.resume_scheduled_job,
                "delete": self._api.delete_scheduled_job}[action]
        await self.inspect_scheduled(scheduled_id)  # an unknown id says so before anything changes
        await self._sched_call(functools.partial(call, scheduled_job_id=plain, namespace=namespace, token=token),
                               what=f"{action} scheduled job {plain}", namespace=namespace, ref=scheduled_id,
                               retry=action != "delete")
        return None if action == "delete" else await self.inspect_scheduled(scheduled_id)

    async def trigger_scheduled(self, scheduled_id: str) -> JobInfo:
        """One run now, outside the schedule (the schedule itself does not change)."""
        namespace, plain = await self._ref(scheduled_id)
        token = await self._need_token()
        job = await self._sched_call(functools.partial(self._api.trigger_scheduled_job, scheduled_job_id=plain,
                                                       namespace=namespace, token=token),
                                     what=f"trigger scheduled job {plain}", namespace=namespace, ref=scheduled_id,
                                     retry=False)
        return self._info(job)

    async def _sched_call(self, fn: Any, *, what: str, namespace: str, ref: str, retry: bool = True) -> Any:
        try:
            return await self._call(fn, what=what, namespace=namespace, job_id=ref, retry=retry)
        except JobNotFoundError as err:
            raise JobNotFoundError(ref, f"No scheduled job {ref!r} on Hugging Face. Call scheduled_jobs with "
                                        "action='list' to see the ones that exist.") from err

    def _scheduled(self, item: Any, *, timeout: float | None = None) -> ScheduledJob:
        redactor = self._redactor()
        spec = item.job_spec
        last = item.status.last_job if item.status else None
        owner = item.owner.name
        labels = {k: str(v) for k, v in (spec.labels or {}).items() if k != LAUNCH_LABEL}
        return ScheduledJob(
            id=item.id if owner == self._namespace else f"{owner}/{item.id}", backend=self.name,
            schedule=item.schedule, suspended=bool(item.suspend), concurrency=bool(item.concurrency),
            next_run_at=item.status.next_job_run_at if item.status else None,
            last_job_id=getattr(last, "id", None), created_at=item.created_at,
            flavor=str(getattr(spec.flavor, "value", spec.flavor)) if spec.flavor else None,
            command=redactor.argv([*(spec.command or []), *(spec.arguments or [])]),
            labels=redactor.mapping(labels), timeout=timeout or spec.timeout)

    # --- rerun ---

    async def rerun(self, job_id: str) -> JobInfo | None:
        """The Hub's own rerun (its copy keeps the secrets, which we cannot read back)."""
        namespace, plain = await self._ref(job_id)
        token = await self._need_token()
        job = await self._call(functools.partial(self._api.rerun_job, job_id=plain, namespace=namespace,
                                                 token=token),
                               what=f"rerun job {plain}", namespace=namespace, job_id=job_id, retry=False)
        return self._info(job)

    async def run_record(self, job_id: str) -> RunRecord:
        """What the job ran, from the Hub: image, command, env, flavor, labels; secrets by name only."""
        namespace, plain = await self._ref(job_id)
        token = await self._need_token()
        job = await self._call(functools.partial(self._api.inspect_job, job_id=plain, namespace=namespace,
                                                 token=token),
                               what=f"inspect job {plain}", namespace=namespace, job_id=job_id)
        labels = {k: str(v) for k, v in (job.labels or {}).items() if k != LAUNCH_LABEL}
        spec = JobSpec(command=[*(job.command or []), *(job.arguments or [])], image=job.docker_image,
                       env={k: str(v) for k, v in (job.environment or {}).items()},
                       flavor=str(getattr(job.flavor, "value", job.flavor) or "cpu-basic"), labels=labels)
        # The Hub does not send a job's timeout back: a rerun with changes gets the one given, else the default.
        return RunRecord(spec=spec, secret_names=sorted(job.secrets or {}), timeout_known=False)

    # --- local inputs ---

    async def upload_namespace(self, *, dry_run: bool) -> str:
        try:
            return await self._ns()
        except JobsError:
            if dry_run:
                return "<your-namespace>"  # a plan without a token still shows what and how large
            raise

    async def upload_inputs(self, uploads: list[LocalUpload], *, dry_run: bool) -> list[LocalUpload]:
        """Upload each input to its private repo (or, on a dry run, look whether it is there already)."""
        if dry_run:
            try:
                token = await self._need_token()
            except JobsError:
                return uploads
        else:
            token = await self._need_token()
        done = []
        if dry_run:
            readers = await self._repo_readers(uploads[0].repo_id.split("/")[0], token=token) if uploads else None
            uploads = [item.model_copy(update={"readers": readers}) for item in uploads]
        for item in uploads:
            step = hub_uploads.check if dry_run else hub_uploads.upload
            call = functools.partial(step, self._api, item, token=token, endpoint=self.endpoint)
            # Uploads can take long: outside _in_thread's request timeout, and not retried blindly.
            try:
                done.append(await anyio.to_thread.run_sync(call))
            except JobsError:
                raise
            except Exception as err:
                raise self._translate(err, what=f"upload {item.path} to {item.repo_id}",
                                      namespace=item.repo_id.split("/")[0]) from err
        return done

    async def _repo_readers(self, namespace: str, *, token: str) -> str:
        """Who can read a private repo of `namespace`: its owner alone, or every member of the organisation."""
        me = await self._call(functools.partial(self._api.whoami, token=token), what="check the token")
        if namespace == me.get("name"):
            return f"only you ({namespace})"
        return f"the members of the organisation {namespace} (a private repo of an organisation is theirs to read)"
