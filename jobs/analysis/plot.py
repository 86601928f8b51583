"""Training curves as a PNG, for a model (or a person) to look at.

matplotlib is imported inside `render_png`, never at module import: it costs a noticeable fraction of a second and
the server imports this module at start. The figure is drawn with the Agg canvas directly (no pyplot), so nothing
global changes and concurrent calls don't share state.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

from .metrics import MetricsReport, Series, goal_of

# Panels, top to bottom. A series goes to the first panel whose test accepts it; names no panel accepts are left
# out of the default selection (an explicit `names` list puts them in "other").
_PANELS: tuple[tuple[str, str], ...] = (
    ("loss", "loss"),
    ("reward", "reward / accuracy"),
    ("learning_rate", "learning rate"),
    ("grad_norm", "grad norm"),
    ("other", "other"),
    # System metrics (jobs.metrics.system) are over seconds, not steps: their panels keep an x-axis of their own.
    ("system_use", "use %"),
    ("system_memory", "memory GB"),
)
_SYSTEM = ("system_use", "system_memory")


def _panel_of(name: str) -> str:
    if name.startswith("system/"):
        return "system_memory" if name.endswith("_gb") else "system_use"
    if name.endswith("loss"):
        return "loss"
    if name == "learning_rate" or name.endswith("/learning_rate"):
        return "learning_rate"
    if name == "grad_norm":
        return "grad_norm"
    if goal_of(name) == "max":
        return "reward"
    return "other"


def default_names(series: Mapping[str, Series]) -> list[str]:
    """The series worth a picture: losses, rewards and accuracies (top-level ones), learning rate, grad norm, and the
    system's use and memory."""
    picked = []
    for name in series:
        panel = _panel_of(name)
        if panel in ("loss", "learning_rate", "grad_norm", *_SYSTEM):
            picked.append(name)
        elif panel == "reward" and (name.count("/") == 0 or name.startswith("rewards/")
                                    and name.endswith("/mean") and name.count("/") == 2):
            picked.append(name)
    return picked


def render_png(source: MetricsReport | Mapping[str, Series], *, names: Sequence[str] | None = None,
               title: str | None = None, width: float = 8.0, panel_height: float = 2.4, dpi: int = 100) -> bytes:
    """Draw the chosen series, one panel per kind (loss, reward, learning rate, grad norm; system use and memory
    over seconds), as PNG bytes.

    Args:
        source: a MetricsReport or a mapping of name -> Series.
        names: which series to draw; default `default_names`. Unknown names are ignored.
        title: drawn above the first panel.
        width, panel_height: inches; the image is `width * dpi` pixels wide.
        dpi: pixels per inch.

    Returns:
        The PNG file's bytes. A figure with no data says so in its middle rather than failing.

    Example:
        >>> png = render_png({"loss": Series(name="loss", steps=[1, 2], values=[2.0, 1.0])})
        >>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
        True
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    series = source.series if isinstance(source, MetricsReport) else dict(source)
    step_label = "step"
    if isinstance(source, MetricsReport) and source.step_unit == "log":
        step_label = "log line"
    chosen = [n for n in (names if names is not None else default_names(series)) if n in series]

    grouped: dict[str, list[Series]] = {}
    for name in chosen:
        grouped.setdefault(_panel_of(name), []).append(series[name])
    panels = [(key, label) for key, label in _PANELS if grouped.get(key)]

    figure = Figure(figsize=(width, panel_height * max(1, len(panels)) + (0.4 if title else 0)), dpi=dpi,
                    layout="constrained")
    FigureCanvasAgg(figure)
    if not panels:
        axes = figure.add_subplot()
        axes.text(0.5, 0.5, "no metrics logged yet", ha="center", va="center", transform=axes.transAxes)
        axes.set_axis_off()
    else:
        all_axes = figure.subplots(len(panels), 1, squeeze=False)[:, 0]
        for axes, (key, label) in zip(all_axes, panels, strict=True):
            first = next(a for a, (k, _) in zip(all_axes, panels, strict=True) if (k in _SYSTEM) == (key in _SYSTEM))
            if first is not axes:
                axes.sharex(first)
            for one in grouped[key]:
                points = one.points()
                xs, ys = [p[0] for p in points], [p[1] for p in points]
                style = {"marker": "o", "markersize": 3} if len(points) <= 30 else {}
                axes.plot(xs, ys, label=one.name, linewidth=1.5, **style)
                # NaN/inf can't be drawn as values; mark where they happened on the axis instead.
                bad = [s for s, v in zip(one.steps, one.values, strict=True) if v is None]
                if bad:
                    axes.plot(bad, [0.0] * len(bad), linestyle="none", marker="x", color="red",
                              transform=axes.get_xaxis_transform(), label=f"{one.name}: NaN/inf", clip_on=False)
            axes.set_ylabel(label)
            axes.grid(True, alpha=0.3)
            if key == "learning_rate":
                axes.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
            axes.legend(loc="best", fontsize="small")
        for axes, (key, _) in zip(all_axes, panels, strict=True):
            last = [a for a, (k, _) in zip(all_axes, panels, strict=True) if (k in _SYSTEM) == (key in _SYSTEM)][-1]
            if axes is last:
                axes.set_xlabel("seconds since the first sample" if key in _SYSTEM else step_label)
                axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        figure.suptitle(title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
