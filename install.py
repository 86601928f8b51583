"""Install trl-jobs-mcp from this checkout into the Python that runs this script, ready to train on this machine.

    python install.py              # the server with [local]: TRL, torch and peft
    python install.py ray test     # more extras: [local,ray,test]
    python install.py --dry-run    # print the pip commands, run nothing

Run it with your virtual environment's python. pip's default torch for Linux is a CUDA build of several GB, useless
without an NVIDIA GPU, so on Linux where `nvidia-smi` finds no GPU torch is installed first from PyTorch's CPU
index (https://download.pytorch.org/whl/cpu, about 200 MB). Where that index cannot be reached, a CPU build your
pip already has access to (a local wheel folder or mirror) is taken; otherwise the script stops and says what to
run. With a GPU, on macOS (PyPI's torch there has no CUDA), or when torch is already installed, pip chooses as usual.
Then it runs `pip install -e '.[local,...]'` on this checkout, so `git pull` updates the install.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
HERE = Path(__file__).resolve().parent


def has_nvidia_gpu() -> bool:
    """Whether `nvidia-smi -L` lists a GPU (a driver without a GPU, or no driver, is no GPU)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    try:
        listed = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return listed.returncode == 0 and "GPU" in listed.stdout


def reachable(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5):  # noqa: S310 (a fixed https URL)
            return True
    except OSError:
        return False


def pip(*args: str) -> list[str]:
    return [sys.executable, "-m", "pip", *args]


def cpu_torch_commands() -> list[list[str]]:
    """The pip command that installs a CPU build of torch here, or [] after saying why there is none."""
    if reachable(f"{CPU_INDEX}/torch/"):
        return [pip("install", "torch", "--index-url", CPU_INDEX)]
    # Offline or behind a mirror: a CPU build among the versions pip's own sources offer (their local label says so).
    listed = subprocess.run(pip("index", "versions", "torch"), capture_output=True, text=True, check=False).stdout
    versions = [v.strip() for line in listed.splitlines() if line.startswith("Available versions:")
                for v in line.split(":", 1)[1].split(",")]
    cpu = [v for v in versions if v.endswith("+cpu")]
    if cpu:
        return [pip("install", f"torch=={cpu[0]}")]
    print(f"install.py: this machine has no NVIDIA GPU and {CPU_INDEX} cannot be reached, and pip's own sources "
          "offer no CPU build of torch. Install a CPU build of torch "
          f"first (`{sys.executable} -m pip install torch --index-url {CPU_INDEX}` once the index is reachable), "
          "then run install.py again.", file=sys.stderr)
    return []


def main(argv: list[str]) -> int:
    dry_run = "--dry-run" in argv
    extras = ["local", *(a for a in argv if not a.startswith("-") and a != "local")]
    commands: list[list[str]] = []
    if importlib.util.find_spec("torch") is not None:
        print("install.py: torch is already installed here; keeping it.")
    elif sys.platform.startswith("linux") and not has_nvidia_gpu():
        print("install.py: no NVIDIA GPU (nvidia-smi): torch's CPU build first, not pip's CUDA default.")
        commands = cpu_torch_commands()
        if not commands:
            return 1
    else:
        print("install.py: an NVIDIA GPU or macOS: pip chooses torch's build.")
    commands.append(pip("install", "-e", f"{HERE}[{','.join(extras)}]"))
    for command in commands:
        print("+", " ".join(command), flush=True)
        if not dry_run and subprocess.run(command, check=False).returncode != 0:
            return 1
    if not dry_run:
        print("install.py: done. Try `trl-jobs-mcp demo`; connect a client as the README says.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
