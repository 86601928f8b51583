"""Fixtures every test layer shares. The fake Hugging Face Jobs API's fixtures (fake_hf, hf_backend) live in
hf_fixtures.py and the session's Ray head (ray_head, started only when a test asks for it) in ray_head.py, both
registered here as plugins so that test modules ask for them by name and never import them.

Child programs that tests run as jobs live in tests/children/, one script each, its docstring first (what it does
and its argv).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["hf_fixtures", "ray_head"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny offline model and datasets (see jobs.tiny), built once per session.

    Built in a child process so that the test process itself never imports torch: tests that check the server
    stays free of heavy imports would otherwise see them.
    """
    root = tmp_path_factory.mktemp("tiny")
    out = subprocess.run([sys.executable, "-P", "-m", "trl_jobs_mcp.jobs.recipes.tiny", str(root)], check=True, capture_output=True, text=True)
    return {k: Path(v) for k, v in json.loads(out.stdout.strip().splitlines()[-1]).items()}


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh TRL_JOBS_HOME for one test."""
    home = tmp_path / "state"
    monkeypatch.setenv("TRL_JOBS_HOME", str(home))
    return home


@pytest.fixture
async def make_backend(state_dir: Path, request: pytest.FixtureRequest
                       ) -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    """LocalBackends on the test's state dir (grace: the module's BACKEND_GRACE, else 2 s); at the end every job
    still running is cancelled and the backends closed, so no test leaves a process behind."""
    from trl_jobs_mcp.jobs.backends.local import LocalBackend
    from trl_jobs_mcp.jobs.core.models import JobStage

    made: list[LocalBackend] = []

    async def make(**kwargs: Any) -> LocalBackend:
        kwargs.setdefault("grace", getattr(request.module, "BACKEND_GRACE", 2.0))
        backend = LocalBackend(home=state_dir, **kwargs)
        await backend.start()
        made.append(backend)
        return backend

    yield make
    if made:
        backend = made[-1]
        await backend.start()
        page = await backend.list(stages={JobStage.RUNNING, JobStage.SCHEDULING}, limit=1000)
        for job in page.jobs:
            await backend.cancel(job.id)
    for backend in made:
        await backend.aclose()
