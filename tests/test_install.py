"""Installed the way people install it: the wheel, core only, in a fresh venv with no site packages of this machine.

Then the light server must list its tools over stdio, validate and send a LoRA launch to the (fake) Hugging Face
Jobs API, and answer a local launch with what to install, creating nothing. Pip fetches the core dependencies from
the package index, as a user's install does; that is the slow part (about 20 s), paid once per session.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from fake_hf_jobs import FakeHFJobs
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp_client import call

from trl_jobs_mcp.jobs.backends.hf.guard import unguarded

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[1]
# mcp, huggingface_hub, pydantic and matplotlib weigh about 270 MB with what they pull in (issue 9's ceiling).
CORE_CEILING_MB = 300
# What `python -m venv` seeds; not part of what our install brings.
_VENV_SEED = {"pip", "setuptools", "_distutils_hack", "distutils-precedence.pth", "pkg_resources", "__pycache__"}


@pytest.fixture(scope="session")
def core_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel of this checkout and its core dependencies, nothing else."""
    root = tmp_path_factory.mktemp("core")
    wheels = root / "wheels"
    # Without build isolation the wheel needs only a setuptools already here, so it builds offline; an older one
    # than pyproject asks for (a venv's seed) lets pip fetch the build requirements instead.
    from importlib.metadata import version

    offline = int(version("setuptools").split(".")[0]) >= 68
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT),
                            *(["--no-build-isolation"] if offline else [])], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-3000:]
    [wheel] = wheels.glob("trl_jobs_mcp-*.whl")
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env_dir)
    python = env_dir / "bin" / "python"
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return env_dir


def _site_packages(env_dir: Path) -> Path:
    [site] = env_dir.glob("lib/python3*/site-packages")
    return site


def _size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 2**20


def _stdio(env_dir: Path, home: Path, cwd: Path, **env: str) -> StdioServerParameters:
    return StdioServerParameters(command=str(env_dir / "bin" / "trl-jobs-mcp"), args=[], cwd=str(cwd),
                                 env={"PATH": os.environ.get("PATH", ""), "TRL_JOBS_HOME": str(home), **env})


def test_core_install_is_light_and_installs_one_namespace(core_venv: Path) -> None:
    site = _site_packages(core_venv)
    brought = [p for p in site.iterdir() if p.name not in _VENV_SEED and not p.name.startswith(("pip-", "setuptools-"))]
    size = sum(_size_mb(p) if p.is_dir() else p.stat().st_size / 2**20 for p in brought)
    assert size < CORE_CEILING_MB, f"the core install weighs {size:.0f} MB"
    for heavy in ("torch", "trl", "transformers", "nvidia", "triton", "datasets", "peft"):
        assert not (site / heavy).exists(), f"the core install pulled {heavy}"
    # Our distribution's RECORD lists every file it installed: one package at the top, and the console script.
    [record] = site.glob("trl_jobs_mcp-*.dist-info/RECORD")
    tops = {line.split(",", 1)[0].split("/", 1)[0] for line in record.read_text().splitlines()}
    assert {t for t in tops if not t.endswith(".dist-info") and t != ".."} == {"trl_jobs_mcp"}
    assert (site / "trl_jobs_mcp" / "jobs" / "recipes" / "trl_args.json").is_file()

    version = subprocess.run([str(core_venv / "bin" / "trl-jobs-mcp"), "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("trl-jobs-mcp 0."), version


async def test_core_install_serves_hf_lora_and_tells_what_a_local_launch_needs(
        core_venv: Path, fake_hf: FakeHFJobs, tmp_path: Path) -> None:
    home = tmp_path / "home"
    hf = _stdio(core_venv, home, tmp_path, TRL_JOBS_BACKEND="hf", HF_ENDPOINT=fake_hf.url, HF_TOKEN=fake_hf.token)
    async with Client(hf) as client:
        names = [t.name for t in (await client.list_tools()).tools]
        assert "launch_training" in names and "fetch_logs" in names
        _, launched = await call(client, "launch_training", model="Qwen/Qwen2.5-0.5B", dataset="trl-lib/Capybara",
                                 flavor="a100-large", use_peft=True, lora_r=16, timeout="1h",
                                 extra_args={"load_in_4bit": True, "warmup_steps": 10})
    [posted] = fake_hf.posted_specs
    # The server's default idle guard wraps it (its source read from the installed package); inside, what the job
    # needs travels as its own uv dependencies; this install has none of it.
    assert posted["command"][:2] == ["sh", "-c"]
    command = unguarded(posted["command"])
    assert command[:6] == ["uv", "run", "--with", "trl==1.16.0", "--with", "peft"], command
    assert "bitsandbytes" in command and "--use_peft=true" in command and "--load_in_4bit=true" in command
    assert launched["job_id"] in fake_hf.jobs

    local = _stdio(core_venv, home, tmp_path, TRL_JOBS_BACKEND="local")
    async with Client(local) as client:
        result = await client.call_tool("launch_training", {"model": "Qwen/Qwen2.5-0.5B", "dataset": str(tmp_path),
                                                            "max_steps": 2})
        text = "\n".join(b.text for b in result.content if b.type == "text")
        assert result.is_error, text
        assert "pip install 'trl-jobs-mcp[local]'" in text and "download.pytorch.org/whl/cpu" in text, text
        _, listing = await call(client, "list_jobs")
        assert listing["jobs"] == []
    assert not (home / "jobs").exists() or not any((home / "jobs").iterdir())


def test_every_package_folder_is_shipped() -> None:
    """pyproject lists the namespace's packages one by one (the root is mapped onto trl_jobs_mcp): a new folder that
    is not listed would work from a checkout and be missing from the wheel."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"trl_jobs_mcp"} | {
        "trl_jobs_mcp." + ".".join(init.parent.relative_to(ROOT).parts)
        for part in ("server", "tools", "prompts", "jobs") for init in (ROOT / part).rglob("__init__.py")}
    assert listed == found
