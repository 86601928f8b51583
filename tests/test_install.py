"""Installed the way people install it: the wheel, core only, in a fresh venv with no site packages of this machine.

Then the light server must list its tools over stdio, validate and send a LoRA launch to the (fake) Hugging Face
Jobs API, and answer a local launch with what to install, creating nothing. Pip fetches the core dependencies from
the package index, as a user's install does; that is the slow part (about 20 s), paid once per session.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import venv
import zipfile
from pathlib import Path
from types import ModuleType

import pytest
from fake_hf_jobs import FakeHFJobs
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp_client import call
from npm_tools import MCPB, npx

from trl_jobs_mcp.jobs.backends.hf.guard import unguarded

# Building the wheel and a venv with pip takes minutes on a loaded machine (the suite-wide limit is 120 s).
pytestmark = [pytest.mark.anyio, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[1]
# mcp, huggingface_hub, pydantic and matplotlib weigh about 270 MB with what they pull in (issue 9's ceiling).
CORE_CEILING_MB = 300
# What `python -m venv` seeds; not part of what our install brings.
_VENV_SEED = {"pip", "setuptools", "_distutils_hack", "distutils-precedence.pth", "pkg_resources", "__pycache__"}


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of this checkout, built as release/build.py builds it."""
    return release_script().build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="session")
def core_venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """A fresh venv holding the wheel of this checkout and its core dependencies, nothing else."""
    env_dir = tmp_path_factory.mktemp("core") / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env_dir)
    python = env_dir / "bin" / "python"
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return env_dir


def release_script() -> ModuleType:
    """release/build.py (not part of the package: it builds what a release publishes)."""
    spec = importlib.util.spec_from_file_location("release_build", ROOT / "release" / "build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
        core_venv: Path, wheel: Path, fake_hf: FakeHFJobs, tmp_path: Path) -> None:
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
        # The advice installs what was installed (this wheel), with [local]: the package is on no index yet.
        assert f"pip install 'trl-jobs-mcp[local] @ file://" in text and wheel.name in text, text
        assert "download.pytorch.org/whl/cpu" in text, text
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


def test_the_wheel_carries_the_license_and_the_version_written_once(wheel: Path) -> None:
    from trl_jobs_mcp import __version__

    assert wheel.name.startswith(f"trl_jobs_mcp-{__version__}-")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        [metadata] = [n for n in names if n.endswith(".dist-info/METADATA")]
        text = z.read(metadata).decode()
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), names
    assert "License-Expression: Apache-2.0" in text and f"Version: {__version__}" in text
    assert "Classifier: Operating System :: POSIX :: Linux" in text


def test_the_desktop_bundle_is_built_and_its_manifest_passes_the_official_validator(wheel: Path,
                                                                                   tmp_path: Path) -> None:
    from trl_jobs_mcp import __version__

    bundle = release_script().build_bundle(wheel=wheel, out_dir=tmp_path / "dist")
    assert bundle.name == f"trl-jobs-mcp-{__version__}.mcpb"
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(bundle) as z:
        z.extractall(unpacked)
    manifest = json.loads((unpacked / "manifest.json").read_text())
    assert manifest["version"] == __version__ and manifest["server"]["type"] == "uv"
    assert (unpacked / manifest["server"]["entry_point"]).is_file() and (unpacked / "wheels" / wheel.name).is_file()
    assert f'path = "wheels/{wheel.name}"' in (unpacked / "pyproject.toml").read_text()
    done = npx(MCPB, "validate", str(unpacked / "manifest.json"), cwd=tmp_path)
    assert done.returncode == 0 and "passes" in done.stdout, done.stdout + done.stderr


def test_server_json_is_the_release_scripts_and_names_this_version() -> None:
    """server.json (for the MCP registry) is written by `python release/build.py server-json`: a release that bumps
    the version in __init__.py and forgets to rerun it fails here. The registry verifies the PyPI package by the
    `mcp-name:` line in the README."""
    from trl_jobs_mcp import __version__

    release = release_script()
    committed = json.loads((ROOT / "server.json").read_text())
    assert committed == release.server_json()
    assert committed["version"] == __version__ == committed["packages"][0]["version"]
    assert f"mcp-name: {committed['name']}" in (ROOT / "README.md").read_text()


def test_server_json_validates_against_the_registrys_published_schema(tmp_path: Path) -> None:
    """Against the schema its `$schema` names: from TRL_JOBS_SERVER_SCHEMA (a saved copy) or downloaded."""
    import jsonschema

    committed = json.loads((ROOT / "server.json").read_text())
    saved = os.environ.get("TRL_JOBS_SERVER_SCHEMA")
    if saved:
        schema = json.loads(Path(saved).read_text())
    else:
        import httpx2

        try:
            schema = httpx2.get(committed["$schema"], timeout=10, follow_redirects=True).raise_for_status().json()
        except httpx2.HTTPError as exc:
            pytest.skip(f"the registry's schema could not be fetched ({exc}); set TRL_JOBS_SERVER_SCHEMA to a copy")
    assert schema.get("$id") == committed["$schema"]
    jsonschema.validate(committed, schema, format_checker=jsonschema.FormatChecker())
