"""trl-jobs-mcp: an MCP server that launches, watches and stops TRL training jobs.

The repository's top-level folders are this package's parts (pyproject.toml maps them): `server` (the composition
root and CLI), `tools` and `prompts` (what MCP clients see), and `jobs` (the engine, with no MCP in it).
"""

# The one place the version is written: pyproject.toml reads it (dynamic), and so do the server, server.json's
# check and the desktop bundle.
__version__ = "0.1.0"
