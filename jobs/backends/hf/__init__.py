"""Hugging Face Jobs: the managed GPU backend (backend.py), its error translation (errors.py), log reader (logs.py),
mapping to and from the Hub's shapes (mapping.py), and the equivalent `hf jobs` command line (command_line.py).
"""

from trl_jobs_mcp.jobs.backends.hf.backend import HFBackend
from trl_jobs_mcp.jobs.backends.hf.command_line import LAUNCH_LABEL, hf_command_line, hf_uv_command_line, label_value

__all__ = ["HFBackend", "LAUNCH_LABEL", "hf_command_line", "hf_uv_command_line", "label_value"]
