"""Reading a local job's log: tails, offsets, bounds, and progress bars rewritten with '\\r'."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from polling import eventually

from trl_jobs_mcp.jobs.backends.local import LocalBackend
from trl_jobs_mcp.jobs.backends.local.logs import read_log
from trl_jobs_mcp.jobs.supervisor.runner import MIN_SECRET_LENGTH, REDACTED, _Scrubber
from trl_jobs_mcp.jobs.core.models import InvalidJobSpec, JobSpec
from trl_jobs_mcp.jobs.core.redact import MIN_SECRET_LENGTH as REDACT_MIN
from trl_jobs_mcp.jobs.core.redact import REDACTED as REDACT_TEXT

CHILDREN = Path(__file__).parent / "children"


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "log"
    path.write_bytes(b"".join(f"line {i}\n".encode() for i in range(100)))
    return path


def test_tail_and_since_page_through_the_log(log: Path) -> None:
    size = log.stat().st_size
    tail = read_log(log, tail=3)
    assert tail.lines == ["line 97", "line 98", "line 99"] and tail.next_since == size and tail.at_end
    assert read_log(log, tail=0).lines == [] and read_log(log, tail=0).next_since == size
    assert read_log(log, tail=500).lines == [f"line {i}" for i in range(100)]

    # Forward in pages of 30 lines: every line exactly once, in order.
    lines, since, calls = [], 0, 0
    while True:
        chunk = read_log(log, since=since, max_lines=30)
        lines += chunk.lines
        since = chunk.next_since
        calls += 1
        if chunk.at_end:
            break
        assert chunk.truncated
    assert lines == [f"line {i}" for i in range(100)] and calls == 4

    # A tail after an offset stops at the offset; and with a small byte budget, says it skipped some.
    mid = read_log(log, since=0, max_lines=95).next_since
    assert read_log(log, since=mid, tail=10).lines == [f"line {i}" for i in range(95, 100)]
    assert not read_log(log, since=mid, tail=10).truncated and read_log(log, since=mid, tail=2).truncated
    small = read_log(log, tail=50, max_bytes=100)
    assert small.truncated and small.lines == [f"line {i}" for i in range(100 - len(small.lines), 100)]
    assert 5 <= len(small.lines) < 50


def test_bad_offsets_are_refused(log: Path) -> None:
    for kwargs, field in (({"since": -1}, "since"), ({"since": 10**9}, "since"), ({"tail": -2}, "tail")):
        with pytest.raises(InvalidJobSpec) as err:
            read_log(log, **kwargs)
        assert err.value.field == field
    assert read_log(log.with_name("missing"), tail=5).lines == []


def test_a_line_still_being_written(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_bytes(b"one\ntwo\nthr")
    tail = read_log(path, tail=2)
    assert tail.lines == ["two", "thr"] and tail.next_since == 8 and not tail.at_end  # read again once complete
    forward = read_log(path, since=0)
    assert forward.lines == ["one", "two"] and forward.next_since == 8
    assert read_log(path, since=8).lines == []
    done = read_log(path, since=8, done=True)  # the writer is gone: the last line is whole
    assert done.lines == ["thr"] and done.next_since == 11 and done.at_end


def test_progress_bars_come_back_as_their_last_state(tmp_path: Path) -> None:
    path = tmp_path / "log"
    bar = "".join(f"\r{i:3d}%|{i // 10 * '#':10s}|" for i in range(0, 101, 5))
    path.write_bytes(f"start\n{bar}\n\r 5%|\r{' ' * 20}\r{{'loss': '1.5'}}\nwindows\r\n".encode())
    expected = ["start", "100%|##########|", "{'loss': '1.5'}", "windows"]
    assert read_log(path, since=0).lines == expected
    assert read_log(path, tail=4).lines == expected


def test_a_line_longer_than_a_read_is_cut_not_lost(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_bytes(b"a" * 5000 + b"\nend\n")
    first = read_log(path, since=0, max_bytes=1000)
    assert first.lines == ["a" * 1000] and first.truncated and first.next_since == 1000
    tail = read_log(path, tail=2, max_bytes=1000)
    assert tail.lines == ["end"] and tail.truncated


def test_the_supervisor_scrubs_a_secret_split_across_reads() -> None:
    assert (MIN_SECRET_LENGTH, REDACTED.decode()) == (REDACT_MIN, REDACT_TEXT)
    scrubber = _Scrubber([b"s3cret-token", b"abc"])  # "abc" is too short to scrub
    out = b"".join(scrubber.feed(piece) for piece in (b"x s3c", b"ret-to", b"ken y s3", b"cre", b"! abc\n"))
    assert out + scrubber.flush() == b"x <redacted> y s3cre! abc\n"
    # Ordinary output is not held back waiting for more.
    assert scrubber.feed(b"loss 1.5\n") == b"loss 1.5\n"
    assert scrubber.feed(b"tail s3c") == b"tail " and scrubber.flush() == b"s3c"


@pytest.mark.anyio
async def test_logs_of_a_running_job_then_finished(state_dir: Path, tmp_path: Path) -> None:
    release = tmp_path / "release"
    async with LocalBackend(home=state_dir, grace=1.0) as backend:
        info = await backend.submit(JobSpec(command=[sys.executable, str(CHILDREN / "progress.py"), str(release)]))

        async def printed_after() -> bool:
            return "after" in (await backend.logs(info.id, tail=10)).lines

        await eventually(printed_after, timeout=15, what="the job to print 'after'")
        live = await backend.logs(info.id, tail=10)
        assert live.lines == ["header", "100%|##########| 100/100", "{'loss': '1.5'}", "after",
                              " 50%|#####     | 50/100"]
        assert not live.finished
        assert (await backend.logs(info.id, since=live.next_since)).lines == []  # the bar is not complete yet
        release.touch()

        async def finished() -> bool:
            return (await backend.inspect(info.id)).finished

        await eventually(finished, timeout=15, what=f"job {info.id} to finish once released")
        rest = await backend.logs(info.id, since=live.next_since)
        assert rest.lines == [" 50%|#####     | 50/100"] and rest.finished
        assert (await backend.logs(info.id, tail=1)).finished
        assert (await backend.logs(info.id, since=0, tail=1)).truncated  # lines after `since` were skipped
        assert not (await backend.logs(info.id, since=0, tail=100)).truncated
