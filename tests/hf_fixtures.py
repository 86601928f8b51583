"""Fixtures for the Hugging Face backend's tests: the fake Jobs API on 127.0.0.1 and a backend pointed at it.

Registered for every test module by conftest.py (`pytest_plugins`); a fixture runs only for the tests that ask
for it, so only those start the fake. `make_hf_backend` is a plain function, imported where a test needs options.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_hf_jobs import FakeHFJobs

from trl_jobs_mcp.jobs.backends.hf import HFBackend

# Quick retries and a short log bound, so the error paths cost milliseconds, not the production seconds.
TEST_RETRY_DELAYS = (0.01, 0.02)
TEST_LOGS_DEADLINE = 2.0
TEST_LOGS_IDLE = 0.3
TEST_LOGS_FIRST_WAIT = 1.0


@pytest.fixture
def fake_hf(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHFJobs]:
    """The fake Jobs API, with HF_ENDPOINT pointing at it.

    huggingface_hub reads HF_ENDPOINT once, at import, into `constants.ENDPOINT`; so the variable is for child
    processes (a server started as a console script), and code in this process passes `endpoint=fake.url`.
    """
    with FakeHFJobs() as fake:
        monkeypatch.setenv("HF_ENDPOINT", fake.url)
        monkeypatch.setenv("TRL_JOBS_DATASET_VIEWER", fake.url)  # the fake serves the dataset viewer's calls too
        monkeypatch.delenv("HF_TOKEN", raising=False)
        yield fake


@pytest.fixture
def hf_backend(fake_hf: FakeHFJobs) -> HFBackend:
    return make_hf_backend(fake_hf)


def make_hf_backend(fake: FakeHFJobs, **overrides: object) -> HFBackend:
    settings: dict[str, object] = dict(token=fake.token, endpoint=fake.url, retry_delays=TEST_RETRY_DELAYS,
                                       logs_deadline=TEST_LOGS_DEADLINE, logs_idle=TEST_LOGS_IDLE,
                                       logs_first_wait=TEST_LOGS_FIRST_WAIT)
    settings.update(overrides)
    return HFBackend(**settings)  # type: ignore[arg-type]
