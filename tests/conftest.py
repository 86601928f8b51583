"""Fixtures every test layer shares. Each helper module's own fixtures live beside its tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


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
    out = subprocess.run([sys.executable, "-m", "jobs.tiny", str(root)], check=True, capture_output=True, text=True)
    return {k: Path(v) for k, v in json.loads(out.stdout.strip().splitlines()[-1]).items()}


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh TRL_JOBS_HOME for one test."""
    home = tmp_path / "state"
    monkeypatch.setenv("TRL_JOBS_HOME", str(home))
    return home
