"""trl-jobs-mcp: an MCP server that launches, watches and stops TRL training jobs.

The repository's top-level folders are this package's parts (pyproject.toml maps them): `server` (the composition
root and CLI), `tools` and `prompts` (what MCP clients see), and `jobs` (the engine, with no MCP in it).
"""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("trl-jobs-mcp")
except _metadata.PackageNotFoundError:  # run from a checkout that is not installed
    __version__ = "0+unknown"
