"""A server stand-in: starts a LocalBackend on a state dir, submits one job, prints its id once its command runs, and
then idles until killed. The test kills it with SIGKILL to play a server that crashed mid-job.

argv: <home> <timeout> <command...>
"""

import sys
import time

import anyio

from trl_jobs_mcp.jobs.backends.local import LocalBackend
from trl_jobs_mcp.jobs.core.models import JobSpec


async def main() -> None:
    home, timeout, command = sys.argv[1], sys.argv[2], sys.argv[3:]
    backend = LocalBackend(home=home, grace=1.0)
    await backend.start()
    info = await backend.submit(JobSpec(command=command, timeout=timeout))
    proc = backend.paths(info.id).proc
    deadline = time.monotonic() + 20
    # proc.json names the command once the supervisor has started it (and the pid is in the database by then).
    while '"child"' not in (proc.read_text() if proc.exists() else "") and time.monotonic() < deadline:
        await anyio.sleep(0.02)
    print(info.id, flush=True)
    await anyio.sleep_forever()


anyio.run(main)
