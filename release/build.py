"""What a release publishes besides the wheel: `server.json` for the MCP registry and a desktop bundle (`.mcpb`).

    python release/build.py server-json           # (re)write ./server.json from the package's version
    python release/build.py bundle [--wheel W]    # dist/trl-jobs-mcp-<version>.mcpb (builds the wheel unless given)

Both take the version from trl_jobs_mcp.__version__, the one place it is written. server.json follows the registry's
published schema (its `$schema`); the registry checks that the PyPI package is ours through the `mcp-name:` line in
the README. The bundle uses MCPB's uv runtime (manifest 0.4): the host's uv installs Python and our wheel, which
travels inside the bundle, with [local] (TRL, torch, peft) so that jobs can run on the user's machine; on Linux uv
takes torch from PyTorch's CPU index (desktop hosts run on macOS, Windows and Linux laptops; a GPU machine installs
with pip instead). `tests/test_install.py` builds both and validates them: the manifest with MCPB's own CLI.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = "https://static.modelcontextprotocol.io/schemas/2025-09-29/server.schema.json"
MCP_NAME = "io.github.trl-jobs-mcp/trl-jobs-mcp"  # the registry namespace: the publishing GitHub account's
DESCRIPTION = "Launch, watch and stop TRL training jobs: on this machine, Hugging Face Jobs or a Ray cluster."
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def version() -> str:
    """trl_jobs_mcp.__version__, read from the source (this script runs without the package installed)."""
    namespace: dict[str, str] = {}
    for line in (ROOT / "__init__.py").read_text().splitlines():
        if line.startswith("__version__"):
            exec(line, namespace)  # noqa: S102 (one assignment of a string literal, from our own file)
    return namespace["__version__"]


def _env(name: str, description: str, **more: object) -> dict[str, object]:
    return {"name": name, "description": description, **more}


def server_json() -> dict[str, object]:
    """The registry entry: the PyPI package, run with uvx over stdio, and the settings a user may give it."""
    v = version()
    return {
        "$schema": SCHEMA,
        "name": MCP_NAME,
        "title": "TRL Jobs",
        "description": DESCRIPTION,
        "version": v,
        "packages": [{
            "registryType": "pypi",
            "identifier": "trl-jobs-mcp",
            "version": v,
            "runtimeHint": "uvx",
            "transport": {"type": "stdio"},
            "environmentVariables": [
                _env("TRL_JOBS_BACKEND", "Where jobs run: local (this machine; install the [local] extra), hf "
                     "(Hugging Face Jobs) or ray (a Ray cluster).", default="local", choices=["local", "hf", "ray"]),
                _env("HF_TOKEN", "Hugging Face token: the hf backend, pushes to the Hub, gated models.",
                     isSecret=True),
                _env("TRL_JOBS_HOME", "The state folder: job records, logs and trained models of local jobs.",
                     format="filepath"),
                _env("TRL_JOBS_RAY_ADDRESS", "ray backend: the cluster's dashboard URL.",
                     default="http://127.0.0.1:8265"),
            ],
        }],
    }


def manifest(wheel_name: str) -> dict[str, object]:
    """The MCPB manifest (0.4, uv runtime): `uv run` in the unpacked bundle starts the server over stdio."""
    return {
        "manifest_version": "0.4",
        "name": "trl-jobs-mcp",
        "display_name": "TRL Jobs",
        "version": version(),
        "description": DESCRIPTION,
        "long_description": "Set up, launch, watch and stop TRL training jobs (SFT, DPO, GRPO, KTO, reward, RLOO) "
                            "in conversation, with TRL's own argument names. Jobs run on this machine by default, "
                            "or on Hugging Face Jobs with a token. Bundles wheel " + wheel_name + ".",
        "author": {"name": "trl-jobs-mcp maintainers"},
        "license": "Apache-2.0",
        "keywords": ["trl", "fine-tuning", "training", "hugging-face", "jobs"],
        "server": {
            "type": "uv",
            "entry_point": "main.py",
            "mcp_config": {
                "command": "uv",
                "args": ["run", "--quiet", "--directory", "${__dirname}", "main.py"],
                "env": {"TRL_JOBS_BACKEND": "${user_config.backend}", "HF_TOKEN": "${user_config.hf_token}"},
            },
        },
        # The local backend's process control is POSIX.
        "compatibility": {"platforms": ["darwin", "linux"], "runtimes": {"python": ">=3.11"}},
        "user_config": {
            "backend": {"type": "string", "title": "Where jobs run", "default": "local", "required": False,
                        "description": "local (this machine), hf (Hugging Face Jobs: needs the token) or ray."},
            "hf_token": {"type": "string", "title": "Hugging Face token", "sensitive": True, "required": False,
                         "description": "For Hugging Face Jobs, pushes to the Hub and gated models."},
        },
    }


def _bundle_pyproject(wheel_name: str) -> str:
    return f"""[project]
name = "trl-jobs-mcp-bundle"
version = "{version()}"
requires-python = ">=3.11"
dependencies = ["trl-jobs-mcp[local]"]

[tool.uv]
package = false

[tool.uv.sources]
trl-jobs-mcp = {{ path = "wheels/{wheel_name}" }}
torch = [{{ index = "pytorch-cpu", marker = "sys_platform == 'linux'" }}]

[[tool.uv.index]]
name = "pytorch-cpu"
url = "{CPU_INDEX}"
explicit = true
"""


MAIN = '''"""The bundle's entry point: the installed trl-jobs-mcp, serving MCP over stdio."""

import sys

from trl_jobs_mcp.server.cli import main

sys.exit(main([]))
'''


def build_wheel(out: Path) -> Path:
    from importlib.metadata import version as installed

    # With a setuptools recent enough here, no build environment is fetched (so it builds offline).
    isolation = [] if int(installed("setuptools").split(".")[0]) < 77 else ["--no-build-isolation"]
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q", "-w", str(out), str(ROOT)],
                   check=True)
    [wheel] = out.glob("trl_jobs_mcp-*.whl")
    return wheel


def build_bundle(*, wheel: Path, out_dir: Path) -> Path:
    """dist/trl-jobs-mcp-<version>.mcpb: a zip of manifest.json, pyproject.toml, main.py, LICENSE and the wheel."""
    out_dir.mkdir(parents=True, exist_ok=True)
    bundle = out_dir / f"trl-jobs-mcp-{version()}.mcpb"
    with zipfile.ZipFile(bundle, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", json.dumps(manifest(wheel.name), indent=2) + "\n")
        z.writestr("pyproject.toml", _bundle_pyproject(wheel.name))
        z.writestr("main.py", MAIN)
        z.write(ROOT / "LICENSE", "LICENSE")
        z.write(wheel, f"wheels/{wheel.name}")
    return bundle


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["server-json", "bundle"])
    parser.add_argument("--wheel", type=Path, help="bundle: this wheel instead of building one")
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="bundle: the folder to write it to")
    args = parser.parse_args(argv)
    if args.what == "server-json":
        (ROOT / "server.json").write_text(json.dumps(server_json(), indent=2) + "\n")
        print(ROOT / "server.json")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        print(build_bundle(wheel=args.wheel or build_wheel(Path(tmp)), out_dir=args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
