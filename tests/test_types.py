"""The package type-checks (issue 24): pyright, at the basic strictness pyproject.toml sets, finds no error and no
unresolved import in server/, tools/, prompts/ and jobs/. What an editor (Pylance is pyright) shows a contributor
is what this test sees: go-to-definition lands in the checkout because the package imports itself relatively."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _pyright() -> list[str]:
    found = shutil.which("pyright") or str(Path(sys.executable).with_name("pyright"))
    if not Path(found).exists():
        pytest.skip("pyright is not installed: pip install -e '.[test]' brings it")
    return [found]


@pytest.mark.timeout(900)
def test_pyright_finds_no_error_in_the_package() -> None:
    proc = subprocess.run([*_pyright(), "--outputjson", "--project", str(ROOT)], cwd=ROOT, capture_output=True,
                          text=True, timeout=880)
    report = json.loads(proc.stdout)
    problems = [f"{Path(d['file']).relative_to(ROOT)}:{d['range']['start']['line'] + 1}: {d['message']}"
                for d in report["generalDiagnostics"] if d["severity"] == "error"]
    assert report["summary"]["filesAnalyzed"] > 90  # the whole package, not an empty include
    assert problems == []
