"""Hugging Face Jobs: the managed GPU backend (backend.py), its error translation (errors.py), log reader (logs.py),
mapping to and from the Hub's shapes (mapping.py), and the equivalent `hf jobs` command line (command_line.py).

`HFBackend` is imported lazily: huggingface_hub's HTTP stack costs a server that runs another backend for nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .command_line import LAUNCH_LABEL, hf_command_line, label_value

if TYPE_CHECKING:
    from .backend import HFBackend

__all__ = ["HFBackend", "LAUNCH_LABEL", "hf_command_line", "label_value"]


def __getattr__(name: str) -> Any:
    if name == "HFBackend":
        from .backend import HFBackend

        return HFBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
