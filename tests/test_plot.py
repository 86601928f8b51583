"""jobs.plot draws a PNG that decodes, with one panel per kind of series, without touching pyplot's global state."""

from __future__ import annotations

import math
import os
import struct
import subprocess
import sys
import zlib

from trl_jobs_mcp.jobs.analysis.metrics import Series, metrics_from_log
from trl_jobs_mcp.jobs.analysis.plot import default_names, render_png

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """The PNG's chunks, each CRC checked: a truncated or corrupt file fails here."""
    assert png[:8] == PNG_SIGNATURE
    chunks, offset = [], 8
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset:offset + 4])
        kind, data = png[offset + 4:offset + 8], png[offset + 8:offset + 8 + length]
        (crc,) = struct.unpack(">I", png[offset + 8 + length:offset + 12 + length])
        assert zlib.crc32(kind + data) == crc, f"bad CRC in {kind!r}"
        chunks.append((kind, data))
        offset += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    return chunks


def _size(png: bytes) -> tuple[int, int]:
    width, height = struct.unpack(">II", _chunks(png)[0][1][:8])
    return width, height


def _pixels(png: bytes) -> bytes:
    """The decompressed scanlines (filter bytes included): enough to tell a blank image from a drawn one."""
    return zlib.decompress(b"".join(data for kind, data in _chunks(png) if kind == b"IDAT"))


def _log(n: int) -> list[str]:
    return [repr({"loss": f"{2 + 4 * math.exp(-i / 5):.4g}", "grad_norm": "1.5", "learning_rate": f"{1e-4 * (1 - i / n):.4g}",
                  "reward": f"{i / n:.3g}", "epoch": f"{i / n:.3g}"}) for i in range(1, n + 1)]


def test_panels_stack_by_kind_and_the_png_decodes() -> None:
    report = metrics_from_log(_log(40), logging_steps=5)
    png = render_png(report, title="job 3f2a", width=6, panel_height=2, dpi=50)
    width, height = _size(png)
    # Four panels (loss, reward, learning rate, grad norm) of 2 inches, plus the title, at 50 dpi.
    assert width == 300 and height == 4 * 100 + 20
    assert len(set(_pixels(png))) > 10  # drawn, not blank


def test_chosen_names_only_and_fewer_panels() -> None:
    report = metrics_from_log(_log(10))
    png = render_png(report, names=["loss", "learning_rate", "not-a-series"], width=5, panel_height=2, dpi=40)
    assert _size(png) == (200, 2 * 80)


def test_default_names_leave_out_bookkeeping_series() -> None:
    names = default_names({n: Series(name=n) for n in [
        "loss", "eval_loss", "learning_rate", "grad_norm", "reward", "rewards/acc/mean", "rewards/acc/std",
        "reward_std", "epoch", "num_tokens", "mean_token_accuracy", "kl"]})
    assert names == ["loss", "eval_loss", "learning_rate", "grad_norm", "reward", "rewards/acc/mean",
                     "mean_token_accuracy"]


def test_nan_values_and_an_empty_report_still_draw() -> None:
    nan_report = metrics_from_log(["{'loss': nan, 'epoch': 0.1}", "{'loss': 2.0, 'epoch': 0.2}",
                                   "{'loss': inf, 'epoch': 0.3}"])
    assert _size(render_png(nan_report, dpi=30, width=4, panel_height=2)) == (120, 60)
    assert _size(render_png({}, dpi=30, width=4, panel_height=2)) == (120, 60)


def test_rendering_loads_no_pyplot_and_leaves_the_backend_alone() -> None:
    code = ("import sys, matplotlib; before = matplotlib.get_backend(); "
            "from trl_jobs_mcp.jobs.analysis.metrics import Series; "
            "from trl_jobs_mcp.jobs.analysis.plot import render_png; "
            "render_png({'loss': Series(name='loss', steps=[1, 2], values=[2.0, 1.0])}); "
            "print('matplotlib.pyplot' in sys.modules, matplotlib.get_backend() == before)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"), "MPLBACKEND": "agg",
                               "PYTHONPATH": ":".join(sys.path)})
    assert done.stdout.split() == ["False", "True"]
