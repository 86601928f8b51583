"""The ray backend's parts that need no head: the streaming decoder of Ray's `{"logs": "..."}` body, the shipped
package, the wiring (settings, make_backend), and the recipe's training spec for Ray."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
import subprocess
import sys
import textwrap
import zipfile
from io import BytesIO
from pathlib import Path

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trl_jobs_mcp.jobs.backends import make_backend
from trl_jobs_mcp.jobs.backends.ray.logs import ANCHOR, anchor, split_lines
from trl_jobs_mcp.jobs.backends.ray.shipped import ENTRY_MODULE, PACKAGE, package
from trl_jobs_mcp.jobs.core.flavors import get_flavor
from trl_jobs_mcp.server.settings import Settings, SettingsError

pytestmark = pytest.mark.anyio


async def split(body: bytes, cuts: list[int]) -> list[tuple[str, bool]]:
    async def chunks() -> AsyncIterator[bytes]:
        last = 0
        for cut in sorted(set(cuts)):
            yield body[last:cut]
            last = cut
        yield body[last:]

    return [pair async for pair in split_lines(chunks())]


_TEXT = st.text(alphabet=st.sampled_from(['a', ' ', '"', '\\', '\t', '\r', 'é', '€', '😀', '/', '\x01']), max_size=30)


@given(st.lists(_TEXT, max_size=20), st.lists(st.integers(min_value=0, max_value=2000), max_size=30),
       st.booleans())
@settings(max_examples=200, deadline=None)
def test_log_lines_are_the_same_whatever_the_cuts_and_a_last_line_without_newline_is_not_whole(
        lines: list[str], cuts: list[int], ends_with_newline: bool) -> None:
    text = "\n".join(lines) + ("\n" if ends_with_newline and lines else "")
    got = anyio.run(split, text.encode(), cuts)
    shown = [line.rstrip("\r").rsplit("\r", 1)[-1] for line in lines]  # a progress bar's last state
    if lines and not ends_with_newline and lines[-1] == "":
        shown.pop()  # nothing after the last newline: no line
    assert [line for line, _ in got] == shown
    assert all(whole for _, whole in got[:-1])
    if got:
        assert got[-1][1] == text.endswith("\n")


def test_anchors_stay_exact_as_json_numbers_and_name_lines_by_their_neighbour() -> None:
    assert ANCHOR <= anchor("a", "b") < 2 * ANCHOR <= 2**53
    assert anchor("a", "b") != anchor("c", "b") and anchor(None, "b") != anchor("", "b")


RUN_ZIP = ("import runpy, sys; sys.path.insert(0, sys.argv[1]); sys.argv = sys.argv[1:]; "
           "runpy.run_module('trl_jobs_ray', run_name='__main__')")


def test_shipped_package_runs_the_wrapper_from_its_zip(tmp_path: Path) -> None:
    """The zip alone (no trl_jobs_mcp on the path) runs a command under the wrapper, which enforces a timeout."""
    name, data = package()
    assert name == package()[0] and name.startswith("_ray_pkg_trl_jobs_") and name.endswith(".zip")
    names = zipfile.ZipFile(BytesIO(data)).namelist()
    shipped = ("__main__.py", "runner.py", "procs.py", "entry.py", "argv.py", "trainers.py")
    assert {f"{PACKAGE}/{file}" for file in shipped} <= set(names)
    assert ENTRY_MODULE == f"{PACKAGE}.entry"
    archive = tmp_path / name
    archive.write_bytes(data)
    env = {"PATH": "/usr/bin:/bin"}
    # -I: nothing but the zip on the path (sys.path gets it by hand, as Ray's py_modules puts it on PYTHONPATH).
    run_zip = [sys.executable, "-I", "-c", RUN_ZIP, str(archive)]
    ok = subprocess.run([*run_zip, "--job", "j1", "--timeout", "60", "--", sys.executable, "-c", "print('hi')"],
                        capture_output=True, text=True, env=env, timeout=60, check=False)
    assert ok.returncode == 0 and ok.stdout.strip() == "hi", ok
    slow = subprocess.run([*run_zip, "--job", "j2", "--timeout", "0.5", "--grace", "0.5", "--",
                           sys.executable, "-c", "import time; time.sleep(60)"],
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    assert slow.returncode == 124 and "ran past its timeout of 0.5s" in slow.stdout, slow


def test_shipped_entry_module_imports_from_its_zip_alone(tmp_path: Path) -> None:
    """The training entry module, run from the zip with nothing of trl_jobs_mcp on the path, finds what it imports
    (its siblings) and gets as far as reading its arguments: an unknown trainer is answered with its usage."""
    name, data = package()
    archive = tmp_path / name
    archive.write_bytes(data)
    run_entry = ("import runpy, sys; sys.path.insert(0, sys.argv[1]); sys.argv = sys.argv[1:]; "
                 f"runpy.run_module({ENTRY_MODULE!r}, run_name='__main__', alter_sys=True)")
    out = subprocess.run([sys.executable, "-I", "-c", run_entry, str(archive), "nope"], capture_output=True,
                         text=True, env={"PATH": "/usr/bin:/bin"}, timeout=60, check=False)
    assert out.returncode == 1, out
    assert f"usage: python -m {ENTRY_MODULE} {{sft,dpo,grpo,kto,reward,rloo}}" in out.stderr, out


def test_settings_and_make_backend_choose_ray(tmp_path: Path) -> None:
    chosen = Settings.from_env({"TRL_JOBS_BACKEND": "ray", "TRL_JOBS_RAY_ADDRESS": "head:8265",
                                "TRL_JOBS_RAY_TOKEN": "tok-12345", "TRL_JOBS_RAY_CLUSTER_ENV": "1"}, home=tmp_path)
    assert chosen.backend == "ray" and chosen.ray_cluster_env is True
    assert "tok-12345" in chosen.secret_values() and "tok-12345" not in repr(chosen)
    backend = make_backend("ray", **chosen.backend_settings())
    assert backend.name == "ray" and backend.address == "http://head:8265" and backend.cluster_env is True
    with pytest.raises(SettingsError, match="TRL_JOBS_RAY_CLUSTER_ENV"):
        Settings.from_env({"TRL_JOBS_RAY_CLUSTER_ENV": "maybe"})


async def test_unreachable_head_names_the_address_and_how_to_start_one(tmp_path: Path) -> None:
    backend = make_backend("ray", ray_address="http://127.0.0.1:9", home=tmp_path)
    await backend.start()
    try:
        with pytest.raises(Exception) as err:
            await backend.list()
        assert type(err.value).__name__ == "BackendUnavailable"
        assert "http://127.0.0.1:9" in str(err.value) and "ray start --head" in str(err.value)
        assert backend.check_flavor("a100-large").runnable is None  # unknown until the cluster has answered
    finally:
        await backend.aclose()


def test_recipe_builds_the_ray_training_spec_from_its_traits(tiny: dict[str, Path], tmp_path: Path) -> None:
    """Ray's traits give the third shape: the shipped entry module run by the node's Python, with the pinned
    packages as dependencies, and paths passed on as the nodes' own."""
    from trl_jobs_mcp.jobs.recipes import TrainingRequest, build_training_spec

    backend = make_backend("ray", ray_address="http://127.0.0.1:9", home=tmp_path)
    request = TrainingRequest(trainer="sft", model=str(tiny["model"]), dataset=str(tiny["sft"]), max_steps=2,
                              use_peft=True, output_dir="/data/out")
    spec = build_training_spec(request, traits=backend.traits, flavor=get_flavor("cpu-basic"))
    assert spec.command[:5] == ["python", "-P", "-m", ENTRY_MODULE, "sft"]
    assert f"--model_name_or_path={tiny['model'].resolve()}" in spec.command
    assert "--output_dir=/data/out" in spec.command and spec.output_dir == "/data/out"
    assert spec.dependencies[0].startswith("trl==") and "peft" in spec.dependencies
    assert "--bf16=false" in spec.command
    assert spec.env["PYTHONUNBUFFERED"] == "1" and spec.script is None
    line = backend.command_line(spec)
    assert line[:5] == ["ray", "job", "submit", "--address", "http://127.0.0.1:9"]
    assert line[line.index("--") + 1:] == spec.command
    assert json.loads(line[line.index("--runtime-env-json") + 1])["pip"] == spec.dependencies


async def test_a_dry_runs_check_refuses_what_submit_refuses_without_the_head(tmp_path: Path) -> None:
    """check() asks nothing of the cluster (its head is down here) and refuses an image and a reserved label."""
    from trl_jobs_mcp.jobs.core.models import InvalidJobSpec, JobSpec

    backend = make_backend("ray", ray_address="http://127.0.0.1:9", home=tmp_path)
    await backend.start()
    try:
        await backend.check(JobSpec(command=["true"], labels={"team": "a"}))
        for spec, field in ((JobSpec(command=["true"], image="python:3.12"), "image"),
                            (JobSpec(command=["true"], labels={"trl_jobs.flavor": "x"}), "labels")):
            with pytest.raises(InvalidJobSpec) as refused:
                await backend.check(spec)
            assert refused.value.field == field
        assert await backend.parameter_count("Qwen/Qwen2.5-0.5B") is None
    finally:
        await backend.aclose()


async def test_console_script_serves_the_ray_backend_and_says_when_the_head_is_down(tmp_path: Path) -> None:
    from mcp import Client, StdioServerParameters
    from mcp_client import console_script

    address = "http://127.0.0.1:9"  # the discard port: nothing listens
    params = StdioServerParameters(command=console_script(), args=["--backend", "ray", "--ray-address", address],
                                   env={"TRL_JOBS_HOME": str(tmp_path)})
    async with Client(params, mode="legacy") as client:
        listed = await client.call_tool("list_jobs", {})
        assert listed.is_error
        assert address in listed.content[0].text and "ray start --head" in listed.content[0].text
        dry = await client.call_tool("run_job", {"command": ["true"], "dry_run": True})
        assert not dry.is_error and dry.structured_content["backend"] == "ray"


def test_the_ray_backend_never_imports_ray(tmp_path: Path) -> None:
    """ray is installed here, so an import of it anywhere on the backend's paths would show."""
    program = textwrap.dedent("""
        import sys, anyio
        from trl_jobs_mcp.jobs.backends import make_backend
        from trl_jobs_mcp.jobs.core.models import JobSpec
        async def main():
            backend = make_backend("ray", ray_address="http://127.0.0.1:9", home=sys.argv[1])
            await backend.start()
            for call in (backend.list(), backend.inspect("trl-x"), backend.hardware(),
                         backend.submit(JobSpec(command=["true"]))):
                try:
                    await call
                except Exception:
                    pass
            await backend.aclose()
        anyio.run(main)
        print(sorted(name for name in sys.modules if name == "ray" or name.startswith("ray.")))
    """)
    out = subprocess.run([sys.executable, "-P", "-c", program, str(tmp_path)], capture_output=True, text=True,
                         timeout=120, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


async def test_a_damaged_record_is_kept_aside_and_a_new_one_begun(tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    """The record is the server's memory of what the cluster forgets; a file SQLite cannot read must not stop the
    server from answering for the jobs the cluster still holds."""
    from trl_jobs_mcp.jobs.backends.ray.records import Record

    state = tmp_path / "ray"
    state.mkdir()
    (state / "jobs.sqlite").write_bytes(b"SQLite format 3\x00" + b"\xff" * 4096)
    backend = make_backend("ray", ray_address="http://127.0.0.1:9", home=tmp_path)
    await backend.start()
    try:
        records = backend._recorded()
        assert records.all() == []
        records.add(Record(id="trl-1", created=1.0, flavor="cpu-basic"))
        assert [r.id for r in records.all()] == ["trl-1"]
    finally:
        await backend.aclose()
    kept = [p.name for p in state.iterdir() if ".damaged-" in p.name]
    assert kept and kept[0].startswith("jobs.sqlite.damaged-")
    assert "could not be read" in caplog.text and "kept it as" in caplog.text
